"""Concurrent callers' texts through the emotion model together: one model call per batch, not per request.

Why: with 8 clients posting one conversation each, 8 threads each ran the encoder on ~12 texts at once, each
asking for both cores. Here the first caller runs the model at once on its own texts (no added wait when
alone); whoever arrives meanwhile queues, and when that call returns the oldest waiter runs everything queued
since, in one call (up to `max_texts`). Each caller gets exactly its own predictions and features back.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from pipelines.emotion import FeatureEmotionClassifier
from pipelines.types import EmotionPrediction


@dataclass(eq=False)
class _Call:
    texts: list[str]
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # set when this waiter is to run the next batch
    result: tuple[list[EmotionPrediction | None], torch.Tensor] | None = None
    error: BaseException | None = None


class CoalescingEmotionClassifier:
    """A `FeatureEmotionClassifier` that runs concurrent calls of `inner` as shared batches (thread-safe)."""

    def __init__(self, inner: FeatureEmotionClassifier, *, max_texts: int = 512) -> None:
        self.inner = inner
        self.version = inner.version
        self.max_texts = max_texts
        self._lock = threading.Lock()
        self._queue: list[_Call] = []
        self._running = False
        self.batches = 0  # model calls made (read by tests and benchmarks)

    @property
    def layers(self) -> tuple[int, ...]:
        """The pooled layers of the inner classifier (the abuse head checks them)."""
        return tuple(getattr(self.inner, "layers", ()))

    @property
    def waiting(self) -> int:
        """Calls queued behind the one running now."""
        with self._lock:
            return len(self._queue)

    def predict(self, texts: Sequence[str]) -> list[EmotionPrediction | None]:
        """One prediction per text, in order; None where the text is empty or whitespace."""
        return self.predict_with_features(texts)[0]

    def predict_with_features(
        self, texts: Sequence[str]
    ) -> tuple[list[EmotionPrediction | None], torch.Tensor]:
        """The inner classifier's answer for exactly these texts, computed in a batch with concurrent callers'."""
        call = _Call(list(texts))
        with self._lock:
            self._queue.append(call)
            call.lead = not self._running
            self._running = True
        while call.result is None and call.error is None:
            if call.lead:
                self._run_queued()
            else:
                call.wake.wait()
                call.wake.clear()
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def _run_queued(self) -> None:
        with self._lock:
            batch: list[_Call] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].texts) <= self.max_texts):
                batch.append(self._queue.pop(0))
                size += len(batch[-1].texts)
        try:
            preds, feats = self.inner.predict_with_features([t for c in batch for t in c.texts])
            self.batches += 1
            start = 0
            for c in batch:
                end = start + len(c.texts)
                c.result = (preds[start:end], feats[start:end])
                start = end
        except BaseException as exc:  # every caller of the batch sees the failure, none waits forever
            for c in batch:
                c.error = exc
        with self._lock:
            if self._queue:  # hand the model to the oldest waiter, who runs what queued meanwhile
                self._queue[0].lead = True
                self._queue[0].wake.set()
            else:
                self._running = False
        for c in batch:
            c.lead = False
            c.wake.set()
