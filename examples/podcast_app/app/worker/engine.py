"""The transcription engine: a deterministic stand-in for a speech-to-text service."""

from __future__ import annotations

import hashlib


class EngineUnavailable(Exception):
    """A transient failure: the task should be retried."""


_WORDS = ("welcome", "to", "the", "show", "today", "we", "talk", "about", "queues", "and")


def transcribe(title: str, audio_url: str, *, attempt: int, flaky: bool) -> str:
    """The transcript of the episode's audio.

    ``flaky`` makes the first attempt fail, as a real engine does under load, so that the
    retry path can be seen working.
    """
    if flaky and attempt == 0:
        raise EngineUnavailable("transcription engine overloaded")
    seed = hashlib.sha256(audio_url.encode()).digest()
    words = [_WORDS[b % len(_WORDS)] for b in seed] * 3
    return f"{title}. " + " ".join(words)
