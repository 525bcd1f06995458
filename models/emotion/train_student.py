"""Distil the served 8-layer encoder into a shallower student that reproduces its pooled features (issue 11 part 3).

    PYTHONPATH=. OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m models.emotion.train_student --layers 4 --epochs 2 \
        --texts 90000                                  # the served student (~40 min on 2 cores)
    ... -m models.emotion.train_student --dev-compare var/emotion/student-L4 [more checkpoints]   # choose on dev
    ... -m models.emotion.train_student --publish [--publish-from DIR]   # -> models/emotion/artifact/student.*

Why features: the emotion head, the abuse head and the dissatisfaction model all read the same pooled
1152-d features (layers 6-8). A student whose pooled features match them serves all three unchanged, so only
the student needs training. The student keeps every other teacher layer (its last is the teacher's last) and
is trained, embeddings frozen, on unlabelled text (the head's training rows, JDDC turns, STC-3 training
dialogues, e-commerce reviews; no evaluation set) to minimise the standardised feature MSE plus the KL
divergence of the served head's distribution on its features from the teacher's.

Writes var/emotion/student-L<k>/ (a BertModel checkpoint + student.json) and prints, in the same run, the
teacher's and the student's speed at batch 32 (ONNX fp32 graphs) and macro-F1 with the served head and
n-gram half on held-out rows of usual_test, CPED 39 + 45 and scmed's test part.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from models.emotion.data import (
    Example,
    head_training_set,
    load_cped,
    load_jddc_customer,
    load_scmed,
    load_smp,
)
from models.emotion.head import ARTIFACT_DIR
from models.emotion.loader import load_emotion_classifier
from models.emotion.setup import DEFAULT_CACHE_DIR, REPO_ROOT
from models.emotion.train import macro_f1
from models.emotion.train_lora import batches, to_tensors
from pipelines.emotion import TorchPooledEncoder, TransformerEmotionClassifier, encode_ids, pool_layers
from pipelines.types import EMOTION_LABELS

SEED = 13
SHARED = REPO_ROOT.parent / "shared" / "data"


def unlabelled_texts(limit: int, max_chars: int = 0) -> list[str]:
    """Distillation text: training rows, JDDC training-session turns, STC-3 training dialogues, reviews
    (max_chars > 0: only texts that short)."""
    from models.dissatisfaction.data import is_heldout, load_stc3

    texts = [e.text for e in head_training_set()]
    texts += load_jddc_customer(heldout=False)
    texts += [t for d in load_stc3() if not is_heldout(d.id) for _, t in d.utterances]
    import csv

    with (SHARED / "sentiment" / "online_shopping_10_cats.csv").open(encoding="utf-8-sig", newline="") as f:
        texts += [r["review"].strip()[:200] for r in csv.DictReader(f) if r["review"]]
    uniq = sorted(
        {t.strip() for t in texts if t and t.strip() and (not max_chars or len(t.strip()) <= max_chars)}
    )
    random.Random(SEED).shuffle(uniq)
    return uniq[:limit]


def teacher_features(served: TransformerEmotionClassifier, prepared: list[str]) -> torch.Tensor:
    """The teacher's pooled features (fp32 graph), cached in var/ by model version and texts: a resumed run
    does not spend minutes recomputing them."""
    import hashlib

    digest = hashlib.sha256("\n".join(prepared).encode()).hexdigest()[:10]
    cache = REPO_ROOT / "var" / "emotion" / f"student-targets-{served.version}-{digest}.npy"
    if cache.is_file():
        return torch.from_numpy(np.load(cache).astype(np.float32))
    target = served._features(prepared)  # noqa: SLF001 - the teacher's features, as served
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, target.numpy())
    return target


def resumed(path: Path) -> torch.nn.Module:
    """The student to continue from: a checkpoint of this script (var/emotion/student-L<k>) or the published
    artefact (models/emotion/artifact, its fp16 layers over the e5 base's embeddings)."""
    if (path / "student.safetensors").is_file():
        from models.emotion.student import load_student_config, load_student_encoder

        return load_student_encoder(DEFAULT_CACHE_DIR, load_student_config(path), path)
    from transformers import BertModel

    model: torch.nn.Module = BertModel.from_pretrained(str(path), add_pooling_layer=False)
    return model


def make_student(teacher: torch.nn.Module, keep: list[int]) -> torch.nn.Module:
    """A copy of the teacher with only the given transformer layers."""
    student = copy.deepcopy(teacher)
    student.encoder.layer = torch.nn.ModuleList([copy.deepcopy(teacher.encoder.layer[i]) for i in keep])
    student.config.num_hidden_layers = len(keep)
    return student


def classifier_with(clf: TransformerEmotionClassifier, encoder: object) -> TransformerEmotionClassifier:
    """The served classifier (head, n-gram half, tokenizer) over another pooled encoder."""
    other = copy.copy(clf)
    other._encoder = encoder  # noqa: SLF001 - an evaluation twin, same everything but the encoder
    return other


def main() -> None:
    """Distil, save, then print speed and macro-F1 of teacher and student side by side."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layers", type=int, default=4, help="student depth")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--texts", type=int, default=50_000)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument(
        "--max-chars",
        type=int,
        default=0,
        help="distil on texts of at most this many characters only (0: all), e.g. to fine-tune on short turns",
    )
    ap.add_argument(
        "--kl-weight",
        type=float,
        default=1.0,
        help="weight of the head-distribution KL against the feature MSE",
    )
    ap.add_argument(
        "--resume",
        type=Path,
        help="continue from this student checkpoint (var/emotion/student-L<k>) or the published one "
        "(models/emotion/artifact) instead",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-rows", type=int, default=1500)
    ap.add_argument(
        "--publish",
        action="store_true",
        help="train nothing: write var/emotion/student-L<k>/ into models/emotion/artifact (student.safetensors)",
    )
    ap.add_argument("--publish-from", type=Path, help="the checkpoint --publish writes (default: the run's)")
    ap.add_argument(
        "--dev-compare",
        type=Path,
        nargs="+",
        help="train nothing: macro-F1 of these checkpoints on the dev sets, against the full encoder",
    )
    args = ap.parse_args()
    if args.publish:
        publish(args.publish_from or REPO_ROOT / "var" / "emotion" / f"student-L{args.layers}")
        return
    if args.dev_compare:
        dev_compare(args.dev_compare, args.threads)
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    out_dir = REPO_ROOT / "var" / "emotion" / f"student-L{args.layers}"

    served = load_emotion_classifier(DEFAULT_CACHE_DIR, num_threads=args.threads, verify_checksum=False)
    teacher_clf = load_emotion_classifier(
        DEFAULT_CACHE_DIR, num_threads=args.threads, verify_checksum=False, backend="torch"
    )
    teacher = teacher_clf.encoder.module  # type: ignore[attr-defined]
    head = served._head  # noqa: SLF001
    depth = teacher.config.num_hidden_layers
    keep = sorted(
        {depth - 1 - 2 * i for i in range(args.layers)} if args.layers * 2 <= depth else range(args.layers)
    )
    student_layers = tuple(args.layers - (max(served.layers) - x) for x in served.layers)
    print(
        f"teacher {depth} layers pooled {served.layers}; student keeps {keep}, pools {student_layers}",
        flush=True,
    )

    texts = unlabelled_texts(args.texts, args.max_chars)
    prepared = served._prepare(texts)  # noqa: SLF001 - t2s, as served
    t0 = time.perf_counter()
    target = teacher_features(served, prepared)
    print(f"{len(texts)} texts; teacher features in {time.perf_counter() - t0:.0f} s", flush=True)
    with torch.inference_mode():
        target_logp = torch.log_softmax(head(target), dim=-1)
    scale = head.scale
    for p in head.parameters():
        p.requires_grad_(False)

    if args.resume:
        student = resumed(args.resume)
        if student.config.num_hidden_layers != args.layers:
            raise SystemExit(
                f"{args.resume} has {student.config.num_hidden_layers} layers, not {args.layers}"
            )
    else:
        student = make_student(teacher, keep)
    for p in student.embeddings.parameters():
        p.requires_grad_(False)
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    ids = encode_ids(served._tokenizer, prepared, served.max_tokens)  # noqa: SLF001
    rng = random.Random(SEED)
    steps = args.epochs * ((len(ids) + 31) // 32)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100) * (1 - s / steps))
    student.train()
    for module in student.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        running = [0.0, 0.0]
        for b, idx in enumerate(batches(ids, 32, rng)):
            input_ids, mask = to_tensors(ids, idx)
            out = student(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
            feats = pool_layers(out.hidden_states, mask, student_layers)
            mse = (((feats - target[idx]) / scale) ** 2).mean()
            logp = torch.log_softmax(head(feats), dim=-1)
            kl = torch.nn.functional.kl_div(logp, target_logp[idx], log_target=True, reduction="batchmean")
            loss = mse + args.kl_weight * kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            running[0] += float(mse.detach())
            running[1] += float(kl.detach())
            if (b + 1) % 200 == 0:
                print(
                    f"epoch {epoch} batch {b + 1} mse {running[0] / 200:.4f} kl {running[1] / 200:.4f} "
                    f"{time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
                running = [0.0, 0.0]
        # Saved after every epoch: a long run can be evaluated (and served) before it ends.
        save_student(
            student,
            out_dir,
            {
                "keep": keep,
                "pooled": student_layers,
                "epochs_done": epoch + 1,
                **{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            },
        )
    student.eval()
    report(served, student, student_layers, args, out_dir)


def save_student(student: torch.nn.Module, out_dir: Path, meta: dict[str, object]) -> None:
    """The student as a BertModel checkpoint plus student.json (what it keeps and how it was trained)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    student.save_pretrained(str(out_dir))
    (out_dir / "student.json").write_text(json.dumps(meta, indent=2) + "\n")


def publish(checkpoint: Path, artifact_dir: Path = ARTIFACT_DIR) -> None:
    """Commit-ready artefact from a trained checkpoint: its layers in fp16 and its recipe."""
    from transformers import BertModel

    from models.emotion.head import load_head
    from models.emotion.student import save_student_artifact

    meta = json.loads((checkpoint / "student.json").read_text())
    student = BertModel.from_pretrained(str(checkpoint), add_pooling_layer=False).eval()
    _, config, _ = load_head(artifact_dir)
    recipe = {k: meta[k] for k in ("epochs", "epochs_done", "texts", "lr", "layers") if k in meta}
    path = save_student_artifact(
        student,
        artifact_dir,
        pooled=tuple(meta["pooled"]),
        base_model_sha256=config.base_model_sha256,
        teacher_layers=list(meta["keep"]),
        extra={
            "recipe": recipe,
            "trained_by": "models/emotion/train_student.py",
            "distilled_on": "head_training_set + JDDC training-session customer turns + STC-3 training "
            "dialogues + online_shopping_10_cats reviews (unlabelled; no evaluation row)",
        },
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def scored(clf: TransformerEmotionClassifier, examples: list[Example]) -> tuple[float, list[str]]:
    """Macro-F1 of clf's labels on labelled examples, and the labels (empty text: neutral)."""
    pred = [p.label if p else "neutral" for p in clf.predict([e.text for e in examples])]
    gold = [EMOTION_LABELS.index(e.label) for e in examples]
    return macro_f1(np.array(gold), np.array([EMOTION_LABELS.index(x) for x in pred])), pred


def dev_compare(checkpoints: list[Path], threads: int) -> None:
    """Which checkpoint to publish, chosen without the test sets: macro-F1 of the served head over each
    student (ONNX fp32) on the dev sets (models.emotion.data.dev_sets), the full encoder's next to it."""
    from transformers import BertModel

    from models.emotion.data import dev_sets
    from models.emotion.onnx_encoder import export

    served = load_emotion_classifier(DEFAULT_CACHE_DIR, num_threads=threads, verify_checksum=False)
    sets = dev_sets(head_training_set())
    systems = {"full encoder": served}
    for ckpt in checkpoints:
        meta = json.loads((ckpt / "student.json").read_text())
        student = BertModel.from_pretrained(str(ckpt), add_pooling_layer=False).eval()
        graph = export(
            TorchPooledEncoder(student, tuple(meta["pooled"])), ckpt / "student.onnx", threads=threads
        )
        systems[str(ckpt)] = classifier_with(served, graph)
    print(f"{'system':40s} " + " ".join(f"{k:>10s}" for k in sets) + f" {'worst Δ':>8s}")
    base: list[float] = []
    for name, clf in systems.items():
        f1s = [scored(clf, examples)[0] for examples in sets.values()]
        base = base or f1s
        worst = min(a - b for a, b in zip(f1s, base, strict=True))
        print(f"{name:40s} " + " ".join(f"{f:10.4f}" for f in f1s) + f" {worst:+8.4f}", flush=True)


def report(
    served: TransformerEmotionClassifier,
    student: torch.nn.Module,
    student_layers: tuple[int, ...],
    args: argparse.Namespace,
    out_dir: Path,
) -> None:
    """Teacher and student (ONNX fp32 and int8) side by side: utterances/s at batch 32 and macro-F1."""
    from benchmarks.bench_emotion import throughput
    from models.emotion.onnx_encoder import export

    rows = args.eval_rows
    sets = {
        "usual": load_smp("usual_test_labeled")[:rows],
        "cped": load_cped(test=True)[:rows],
        "scmed": load_scmed("test"),
    }
    utts = [t for t in load_jddc_customer(heldout=True) if len(t) >= 2][:256]
    systems = {"teacher onnx fp32": served}
    for quantize in (False, True):
        # Exported afresh: a graph left by an earlier run in the same directory is another student.
        graph = export(
            TorchPooledEncoder(student, student_layers),
            out_dir / f"student{'-int8' if quantize else ''}.onnx",
            quantize=quantize,
            threads=args.threads,
        )
        systems[f"student onnx {'int8' if quantize else 'fp32'}"] = classifier_with(served, graph)
    print(f"{'system':22s} {'b32 utt/s':>9s} " + " ".join(f"{k:>7s}" for k in sets) + "  same label")
    ref: dict[str, list[str]] = {}
    for name, clf in systems.items():
        speed = float(np.median([throughput(clf, utts, 32, 2) for _ in range(3)]))
        f1s, agree = [], []
        for set_name, examples in sets.items():
            f1, pred = scored(clf, examples)
            f1s.append(f1)
            ref.setdefault(set_name, pred)
            agree.append(np.mean([a == b for a, b in zip(pred, ref[set_name], strict=True)]))
        print(
            f"{name:22s} {speed:9.1f} " + " ".join(f"{f:7.4f}" for f in f1s) + f"  {np.mean(agree):.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
