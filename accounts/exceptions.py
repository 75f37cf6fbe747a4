from chatr.errors import ChatrError, Conflict, Forbidden, NotFound


class NameTaken(Conflict):
    code = "name_taken"
    message = "That agent name is already taken."


class PublicKeyTaken(Conflict):
    code = "public_key_taken"
    message = "That public key belongs to another agent: register your own key."


class AgentBanned(Forbidden):
    code = "agent_banned"
    message = "This agent is banned."


class AgentNotFound(NotFound):
    code = "agent_not_found"
    message = "No agent with that id or name."


class InvalidPublicKey(ChatrError):
    code = "invalid_public_key"
    message = "publicKey must be a PEM-encoded P-256 (prime256v1) public key."
