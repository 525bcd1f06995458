"""Load the labelled emotion corpora from ../shared/data and map them onto the product's six labels."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipelines.types import EMOTION_LABELS

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

SMP_MAP = {
    "neutral": "neutral",
    "happy": "happy",
    "angry": "angry",
    "sad": "sad",
    "fear": "anxious",
    "surprise": "surprised",
}
# CPED: negative-other / positive-other carry polarity only, so they are dropped.
CPED_MAP = {
    "neutral": "neutral",
    "happy": "happy",
    "relaxed": "happy",
    "grateful": "happy",
    "anger": "angry",
    "disgust": "angry",
    "depress": "sad",
    "sadness": "sad",
    "worried": "anxious",
    "fear": "anxious",
    "astonished": "surprised",
}
# Series held out from training: CPED results are reported on these only.
CPED_TEST_SERIES = frozenset({"39", "45"})
SMP_TRAIN_FILES = ("usual_eval_labeled", "virus_train", "virus_eval_labeled", "virus_test_labeled")
LABEL_INDEX = {label: i for i, label in enumerate(EMOTION_LABELS)}
# scmed_dialogue (spoken-style sentences): 关心 is dropped, it holds worried and caring sentences alike.
SCMED_MAP = {
    "平静": "neutral",
    "疑问": "neutral",
    "开心": "happy",
    "生气": "angry",
    "厌恶": "angry",
    "伤心": "sad",
    "惊讶": "surprised",
}


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text with the corpus it came from."""

    text: str
    label: str
    source: str


def load_smp(name: str, data_dir: Path = SHARED_DATA) -> list[Example]:
    """One SMP2020-EWECT file (e.g. usual_test_labeled) mapped to product labels."""
    rows = json.loads(
        (data_dir / "emotion" / "smp2020_ewect" / f"{name}.txt").read_text(encoding="utf-8-sig")
    )
    return [Example(r["content"], SMP_MAP[r["label"]], f"smp:{name}") for r in rows if r["content"].strip()]


def load_cped(*, test: bool, data_dir: Path = SHARED_DATA) -> list[Example]:
    """CPED utterances from the held-out series (test=True) or the training series, other-labels dropped."""
    path = data_dir / "emotion" / "cped_valid" / "valid_split.csv"
    out = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            if (r["TV_ID"] in CPED_TEST_SERIES) != test or r["Emotion"] not in CPED_MAP:
                continue
            if r["Utterance"].strip():
                out.append(Example(r["Utterance"].strip(), CPED_MAP[r["Emotion"]], f"cped:{r['TV_ID']}"))
    return out


# Empathetic personas (translated first-person sentences): its numeric labels onto ours.
EMPATHETIC_MAP = {"0": "sad", "1": "angry", "2": "happy", "3": "anxious"}
Part = Literal["train", "dev", "test"]


def text_part(text: str) -> Part:
    """Fixed split of a sentence set by sha256 of the text (a repeated sentence never straddles parts):
    buckets 0-5 of 10 train, 6-7 dev (model choice and calibration fit), 8-9 test (only ever measured)."""
    bucket = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 10
    return "train" if bucket < 6 else "dev" if bucket < 8 else "test"


def load_scmed(part: Part | None = None, data_dir: Path = SHARED_DATA) -> list[Example]:
    """scmed_dialogue mapped to product labels: all of it, or one part of its fixed split (text_part)."""
    with (data_dir / "emotion" / "scmed_dialogue" / "scmed.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = [
            Example(r["text"].strip(), SCMED_MAP[r["label"]], "scmed")
            for r in csv.DictReader(f)
            if r["label"] in SCMED_MAP and r["text"].strip()
        ]
    return [e for e in rows if part is None or text_part(e.text) == part]


def load_empathetic(part: Part | None = None, data_dir: Path = SHARED_DATA) -> list[Example]:
    """empathetic_personas_zh (sad, angry, happy, anxious): all of it, or one part of its fixed split."""
    path = data_dir / "emotion" / "empathetic_personas_zh" / "emotionlabeled_full.csv"
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [
            Example(r["text"].strip(), EMPATHETIC_MAP[r["labels"].strip()], "empathetic")
            for r in csv.DictReader(f)
            if r["labels"].strip() in EMPATHETIC_MAP and r["text"].strip()
        ]
    return [e for e in rows if part is None or text_part(e.text) == part]


def spoken_sets() -> dict[str, list[Example]]:
    """The spoken-style rows the served emotion model never trained on: CPED held-out series 39 + 45 and the
    dev + test parts of scmed_dialogue (its train part is in head_training_set)."""
    scmed = [e for e in load_scmed() if text_part(e.text) != "train"]
    return {"cped_heldout": load_cped(test=True), "scmed": scmed}


def spoken_calibration_half(name: str, i: int, example: Example) -> bool:
    """Whether row i of spoken_sets()[name] fits the calibration: scmed's dev part, and half of CPED's
    held-out series (is_calibration_row); the rest only ever measures it."""
    if name == "scmed":
        return text_part(example.text) == "dev"
    return is_calibration_row(i, example.text)


def is_calibration_row(i: int, text: str) -> bool:
    """Half of a spoken set's rows (sha256 of row number and text, stable) fit the calibration; the other
    half only ever measures it."""
    return int(hashlib.sha256(f"{i}:{text}".encode()).hexdigest()[:8], 16) % 2 == 0


_QUESTION = re.compile(
    r"吗|么|？|\?|怎么|能不能|可不可以|可以|请问|咨询|如何|什么|多久|哪|几天|是否|帮我|麻烦"
)
# Anything that may carry emotion (thanks, complaint, urgency) is kept out of the neutral set.
_EMOTIVE = re.compile(
    r"谢|好评|满意|棒|赞|开心|哈|投诉|差|垃圾|骗|坑|气|烦|急|怎么还|还没|还不|到底|无语|失望|生气|"
    r"慢|坏|破|错|退款|赔|！|!|。。|\?\?|？？|呵|唉|哎|晕|郁闷|担心|怕|不行|不要|别|滚|妈|靠"
)


def is_plain_question(text: str) -> bool:
    """Heuristic for a plain, emotion-free customer question (used to pick JDDC neutral examples)."""
    core = re.sub(r"\[[^\]]*x\]", "", text).strip()
    return 6 <= len(core) <= 40 and bool(_QUESTION.search(core)) and not _EMOTIVE.search(core)


def _session_bucket(session_id: str) -> int:
    return int(hashlib.sha256(session_id.encode()).hexdigest()[:8], 16) % 10


def load_jddc_customer(*, heldout: bool, data_dir: Path = SHARED_DATA) -> list[str]:
    """Customer turns of JDDC sessions; 2 of 10 session buckets (by sha256 of the id) are held out."""
    out = []
    path = data_dir / "dialogues" / "jddc_sample_sessions.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        s = json.loads(line)
        if (_session_bucket(s["session_id"]) < 2) != heldout:
            continue
        out.extend(t["text"].strip() for t in s["turns"] if t["role"] == "customer" and t["text"].strip())
    return out


def jddc_neutral_train(limit: int = 600, seed: int = 13) -> list[Example]:
    """Plain JDDC customer questions from training sessions, labelled neutral."""
    texts = sorted({t for t in load_jddc_customer(heldout=False) if is_plain_question(t)})
    random.Random(seed).shuffle(texts)
    return [Example(t, "neutral", "jddc") for t in texts[:limit]]


_NOT_PLAIN_ACK = re.compile(r"谢|感谢|好吧|人工|^\W*$")


def jddc_short_neutral(per_text_cap: int = 5) -> list[Example]:
    """Short customer acknowledgements (好的, 嗯, 是的, 没有了…) from training sessions, labelled neutral.

    Without them the head, which learnt short replies from TV dialogue, called a plain 好的 'sad'.
    Thanks (happy) and 好吧 (resigned) are left out; each text is kept at most per_text_cap times.
    """
    counts: dict[str, int] = {}
    out = []
    for text in load_jddc_customer(heldout=False):
        core = re.sub(r"\[[^\]]*x\]", "", text).strip()
        if not 1 <= len(core) <= 5 or _NOT_PLAIN_ACK.search(core) or _EMOTIVE.search(core):
            continue
        counts[core] = counts.get(core, 0) + 1
        if counts[core] <= per_text_cap:
            out.append(Example(core, "neutral", "jddc_short"))
    return out


def training_set(seed: int = 13, virus_happy_cap: int = 1200, virus_other_cap: int = 3500) -> list[Example]:
    """Everything the head is trained on: SMP (minus usual_test), CPED training series, JDDC neutral.

    The epidemic-period Weibo sets are subsampled (fixed seed): they are mostly cheering posts, and long
    posts dominate feature-extraction time on 2 CPU cores.
    """
    rng = random.Random(seed)
    usual = load_smp("usual_eval_labeled")
    virus = [ex for name in SMP_TRAIN_FILES if name.startswith("virus") for ex in load_smp(name)]
    rng.shuffle(virus)
    happy = [ex for ex in virus if ex.label == "happy"][:virus_happy_cap]
    other = [ex for ex in virus if ex.label != "happy"][:virus_other_cap]
    return (
        usual + happy + other + load_cped(test=False) + jddc_neutral_train(seed=seed) + jddc_short_neutral()
    )


def head_training_set(seed: int = 13) -> list[Example]:
    """What the served head and n-gram half train on: training_set (the adapters' rows) plus the train parts
    of the spoken-style sets, scmed_dialogue and empathetic_personas_zh (text_part)."""
    return training_set(seed=seed) + load_scmed("train") + load_empathetic("train")


def unseen_weibo(train: list[Example]) -> list[Example]:
    """Epidemic-period Weibo rows that training_set() did not sample (about 8,000): a dev set."""
    seen = {e.text for e in train}
    rows = [e for name in SMP_TRAIN_FILES if name.startswith("virus") for e in load_smp(name)]
    return [e for e in rows if e.text not in seen]


def dev_sets(train: list[Example], seed: int = 13, weibo_rows: int = 2000) -> dict[str, list[Example]]:
    """Rows for choosing among models (train_head's grid, train_ngram's weight): none is trained on and no
    test part is among them: 2,000 unseen Weibo posts, scmed's and empathetic's dev parts and the calibration
    half of the CPED held-out series."""
    weibo = unseen_weibo(train)
    random.Random(seed).shuffle(weibo)
    return {
        "weibo": weibo[:weibo_rows],
        "scmed": load_scmed("dev"),
        "empathetic": load_empathetic("dev"),
        "cped": [e for i, e in enumerate(load_cped(test=True)) if is_calibration_row(i, e.text)],
    }
