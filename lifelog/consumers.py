from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from .selectors import import_job_get
from .tasks import import_job_group, import_job_state


class ImportJobProgressConsumer(AsyncJsonWebsocketConsumer):
    """Pushes an import's progress to a researcher who may see that participant."""

    async def connect(self) -> None:
        user = self.scope["user"]
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        state = await self._state(user, job_id) if user.is_authenticated else None
        if state is None:
            await self.close(code=4403)
            return
        self.group = import_job_group(job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(state)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_progress(self, event: dict) -> None:
        await self.send_json(event["state"])

    @database_sync_to_async
    def _state(self, user, job_id: int) -> dict | None:
        try:
            return import_job_state(import_job_get(user=user, job_id=job_id))
        except Http404:
            return None
