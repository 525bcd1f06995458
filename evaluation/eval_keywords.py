"""Keyword extraction on the JDDC chats: ours against plain jieba TF-IDF, measured in the same run.

    PYTHONPATH=. .venv/bin/python -m evaluation.eval_keywords

There are no gold keywords for JDDC, so two proxies are printed for the customer's top-5:
- topic recall: of the sessions whose customer turns mention a service topic (退款, 发票, 价保 …), the share
  whose top-5 contains one of the topic words the customer used (or a longer word containing it);
- noise: the share of returned keywords that are service filler or placeholder fragments (您好, 亲爱, 数字 …),
  i.e. words a reviewer would never search for.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jieba
import jieba.analyse

from pipelines.keywords import KeywordExtractor

REPO = Path(__file__).resolve().parents[1]
SESSIONS = REPO / ".." / "shared" / "data" / "dialogues" / "jddc_sample_sessions.jsonl"
TOPICS = (
    "退款 退货 换货 退换货 发票 电子发票 增值税发票 价保 保价 运费险 京豆 优惠券 自提 签收 拒收 补发 差价 售后 "
    "白条 上门取件 七天无理由 物流 快递 维修 返修 取消订单 发货 到货 地址"
).split()
NOISE = frozenset(
    "您好 你好 亲 亲亲 亲爱 亲爱的 请问 谢谢 感谢您 好的 稍等 帮到 小妹 妹子 祝您 愉快 客气 再见 辛苦 "
    "数字 订单x 数字x 金额 日期 时间 姓名 链接 站点x 京东 ID".split()
)
TOP_K = 5


def main() -> None:
    """Print topic recall, noise and speed for both extractors."""
    sessions = [json.loads(line) for line in SESSIONS.read_text(encoding="utf-8").splitlines()]
    customer_texts = [[t["text"] for t in s["turns"] if t["role"] == "customer"] for s in sessions]

    started = time.perf_counter()
    ours = KeywordExtractor(
        userdict=REPO / "lexicons/jieba_userdict.txt", stopwords=REPO / "lexicons/stopwords.txt", top_k=TOP_K
    )
    load_s = time.perf_counter() - started

    def ours_top(texts: list[str]) -> list[str]:
        return [t for t, _ in ours.extract(texts)]

    def baseline_top(texts: list[str]) -> list[str]:
        return list(jieba.analyse.extract_tags("\n".join(texts), topK=TOP_K))

    print(f"sessions: {len(sessions)}, customer top-{TOP_K}; extractor load {load_s:.2f} s")
    print(f"{'extractor':<22}{'topic recall':>14}{'noise':>8}{'ms/session':>12}")
    for name, top in (("plain jieba TF-IDF", baseline_top), ("ours (userdict+stop)", ours_top)):
        top(["预热"])  # load jieba's dictionary outside the timed loop
        hits = topical = returned = noisy = 0
        started = time.perf_counter()
        for texts in customer_texts:
            keywords = top(texts)
            joined = "\n".join(texts)
            used = {t for t in TOPICS if t in joined}
            returned += len(keywords)
            noisy += sum(k in NOISE for k in keywords)
            if used:
                topical += 1
                # A longer compound of a topic word counts (增值税专用发票 for 发票, 快递员 for 快递).
                hits += any(t in k for k in keywords for t in used)
        ms = (time.perf_counter() - started) * 1000 / len(customer_texts)
        print(f"{name:<22}{hits / topical:>13.1%}{noisy / max(returned, 1):>8.1%}{ms:>12.1f}")
    print(f"(topic recall over {topical} sessions whose customer turns name a topic)")


if __name__ == "__main__":
    main()
