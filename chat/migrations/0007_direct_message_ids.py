"""Direct messages share the room messages' id space (``chat.ids``), and a reported one can be hidden.

The room messages' sequence is moved past every direct message stored so far, so every id handed out from now on,
room or direct, is above every old one: each inbox's ``since`` cursor keeps increasing. Ids stored before keep the
numbers they have (clients hold them); where an old direct message's id equals a room message's, a report of that
id reaches the room message (docs/moderation.md).
"""

from django.db import migrations, models


def move_message_sequence(apps, schema_editor):
    from chat import ids

    DirectMessage = apps.get_model("chat", "DirectMessage")
    highest = DirectMessage.objects.using(schema_editor.connection.alias).aggregate(top=models.Max("id"))["top"]
    if highest:
        ids.move_past(highest, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0006_group_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="directmessage",
            name="hidden",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(move_message_sequence, migrations.RunPython.noop),
    ]
