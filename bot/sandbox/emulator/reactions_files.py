"""reactions.add/remove and the files.getUploadURLExternal → upload → complete dance."""

from __future__ import annotations

import copy
import time
from typing import Any

from bot.sandbox.emulator.base import ApiError, EmulatorBase, RecordedCall, UploadedFile, web_api


class ReactionsFilesApi(EmulatorBase):
    """Emoji reactions on messages, and file uploads shared into channels."""

    def _reaction_target(self, params: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        msg = self._find(ch, params.get("timestamp"))
        if msg is None:
            raise ApiError("message_not_found")
        if not params.get("name"):
            raise ApiError("invalid_name")
        return msg

    @web_api("reactions.add")
    def _reactions_add(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        msg = self._reaction_target(params)
        name = str(params["name"]).strip(":")
        reactions = msg.setdefault("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry is None:
            entry = {"name": name, "users": [], "count": 0}
            reactions.append(entry)
        if self.bot_user_id in entry["users"]:
            raise ApiError("already_reacted")
        entry["users"].append(self.bot_user_id)
        entry["count"] = len(entry["users"])
        self._emit("reaction", {"channel": params["channel"], "ts": msg["ts"], "name": name,
                                "added": True})
        return {}

    @web_api("reactions.remove")
    def _reactions_remove(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        msg = self._reaction_target(params)
        name = str(params["name"]).strip(":")
        reactions = msg.get("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry is None or self.bot_user_id not in entry["users"]:
            raise ApiError("no_reaction")
        entry["users"].remove(self.bot_user_id)
        entry["count"] = len(entry["users"])
        if not entry["users"]:
            reactions.remove(entry)
        if not reactions:
            msg.pop("reactions", None)
        self._emit("reaction", {"channel": params["channel"], "ts": msg["ts"], "name": name,
                                "added": False})
        return {}

    @web_api("files.getUploadURLExternal")
    def _files_get_upload_url(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        filename = str(params.get("filename") or "")
        try:
            length = int(params.get("length") or 0)
        except (TypeError, ValueError):
            raise ApiError("invalid_arguments") from None
        if not filename or length <= 0:
            raise ApiError("invalid_arguments")
        file_id = self._next_id("F")
        self._files[file_id] = UploadedFile(
            id=file_id, filename=filename, length=length,
            alt_txt=str(params.get("alt_txt") or params.get("alt_text") or ""),
            snippet_type=str(params.get("snippet_type") or ""),
        )
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _file_obj(self, record: UploadedFile) -> dict[str, Any]:
        return {
            "id": record.id, "name": record.filename, "title": record.title,
            "size": len(record.content or b""), "user": self.bot_user_id,
            "created": int(self._clock()),
            "permalink": f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/"
                         f"{record.id}/{record.filename}",
        }

    @web_api("files.completeUploadExternal")
    def _files_complete_upload(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise ApiError("invalid_arguments")
        records = []
        for item in files:
            record = self._files.get(str(item.get("id") if isinstance(item, dict) else ""))
            if record is None or record.content is None:
                raise ApiError("file_not_found")
            records.append((record, item))
        channels = [c for c in str(params.get("channels") or "").split(",") if c]
        if params.get("channel_id"):
            channels.insert(0, str(params["channel_id"]))
        resolved = [self._channel(c) for c in channels]
        for ch in resolved:
            self._require_bot(ch)
        thread_ts = params.get("thread_ts")
        comment = str(params.get("initial_comment") or "")
        for record, item in records:
            record.title = str(item.get("title") or record.filename)
            record.channel = resolved[0].id if resolved else None
            record.thread_ts = str(thread_ts) if thread_ts else None
            record.initial_comment = comment
            record.completed = True
            self._emit("file", {"file": self._file_obj(record), "channel": record.channel})
        file_objs = [self._file_obj(r) for r, _ in records]
        for ch in resolved:
            msg = self._bot_message({"text": comment}, thread_ts)
            msg["files"] = copy.deepcopy(file_objs)
            msg["upload"] = True
            self._add_message(ch, msg)
        return {"files": file_objs}

    def _upload(self, file_id: str, body: bytes, headers: dict[str, str], path: str
                ) -> tuple[int, dict[str, str], bytes]:
        # The body is the raw file even though urllib labels it form-urlencoded.
        self._record(RecordedCall("upload", {"file_id": file_id, "length": len(body)}, headers,
                                  time.time(), path))
        injected = self._injected("upload")
        if injected is not None:
            return injected
        with self._lock:
            record = self._files.get(file_id)
            if record is None:
                return 404, {}, b"file not found"
            record.content = bytes(body)
        return 200, {}, f"OK - {len(body)}".encode()
