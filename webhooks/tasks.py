"""The task the engine (django-tasks, database backend) runs for each delivery attempt."""

from django_tasks import task


@task()
def deliver_webhook(delivery_id: int) -> str:
    from webhooks import services

    delivery = services.deliver(delivery_id=delivery_id)
    return delivery.status if delivery is not None else "skipped"
