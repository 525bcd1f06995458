"""Writes pii_corpus.jsonl: synthetic personal data in the forms people and speech recognisers write it.

    .venv/bin/python tests/pipelines/data/make_pii_corpus.py

Every value is generated (seeded) and valid: mobile prefixes 13x-19x, ID numbers with a real birth date and
their MOD 11-2 check character, bank cards passing Luhn. Each line is one case:
{"text": ..., "pii": [{"kind": ..., "raw": <as written in text>, "value": <canonical digits / id>}], "form": ...}.
Cases with "pii": [] are ordinary numbers that must be left alone.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.pii import id_check_digit, luhn_valid

OUT = Path(__file__).with_name("pii_corpus.jsonl")
SPOKEN = {"0": "零〇", "1": "一幺", "2": "二两", "3": "三", "4": "四", "5": "五", "6": "六", "7": "七",
          "8": "八", "9": "九"}  # fmt: skip
FULL = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
rng = random.Random(9)


def mobile() -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choices("0123456789", k=9))


def id_card() -> str:
    area = rng.choice(("110105", "310104", "440305", "320102", "510107", "330106", "420111", "610113"))
    born = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first17 = area + born + "".join(rng.choices("0123456789", k=3))
    return first17 + id_check_digit(first17)


def bank_card() -> str:
    prefix, length = rng.choice((("622202", 19), ("622848", 19), ("621700", 19), ("4392", 16), ("5187", 16)))
    while True:
        card = prefix + "".join(rng.choices("0123456789", k=length - len(prefix)))
        if luhn_valid(card):
            return card


def landline() -> tuple[str, str]:
    area = rng.choice(("010", "021", "020", "022", "0755", "0571", "0551", "0731", "028"))
    number = str(rng.randint(2, 8)) + "".join(
        rng.choices("0123456789", k=7 if len(area) == 3 else rng.choice((6, 7)))
    )
    return area, number


def spoken(digits: str) -> str:
    return "".join(rng.choice(SPOKEN[d]) if d in SPOKEN else d for d in digits)


def split(d: str, sizes: tuple[int, ...], sep: str) -> str:
    parts, at = [], 0
    for size in sizes:
        parts.append(d[at : at + size])
        at += size
    if at < len(d):
        parts.append(d[at:])
    return sep.join(parts)


MOBILE_FORMS: dict[str, Callable[[str], str]] = {
    "plain": lambda d: d,
    "spaces-3-4-4": lambda d: split(d, (3, 4), " "),
    "dashes": lambda d: split(d, (3, 4), "-"),
    "spaced-dashes": lambda d: split(d, (3, 4), " - "),
    "dots": lambda d: split(d, (3, 4), "."),
    "cn-commas": lambda d: split(d, (3, 4), "，"),
    "cn-enum-commas": lambda d: split(d, (3, 4), "、"),
    "ascii-commas": lambda d: split(d, (3, 4), ", "),
    "split-3-8": lambda d: split(d, (3,), " "),
    "split-7-4": lambda d: split(d, (7,), "-"),
    "full-width": lambda d: d.translate(FULL),
    "spoken": spoken,
    "spoken-commas": lambda d: split(spoken(d), (3, 4), "，"),
    "spoken-spaces": lambda d: split(spoken(d), (3, 4), " "),
    "mixed": lambda d: d[:3] + spoken(d[3:7]) + d[7:],
    "spelled": lambda d: " ".join(d),
    "plus86": lambda d: "+86 " + split(d, (3, 4), " "),
    "plus86-glued": lambda d: "+86" + d,
    "86-dash": lambda d: "86-" + d,
    "0086": lambda d: "0086 " + d,
    "wx-glued": lambda d: "wx" + d,
    "vx-glued": lambda d: "vx" + d,
    "QQ-glued": lambda d: "QQ" + d,
    "tel-glued": lambda d: "Tel" + d,
}
SENTENCES = (
    "我的手机是{}，麻烦快递到了打我电话",
    "电话{}",
    "你打这个号码{}就能找到我",
    "收件人张先生 {} 地址在朝阳区",
    "联系方式：{}。",
    "{}",
    "嗯那个号码是{}对",
    "备用号码{}，白天打",
)


def cases() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(text: str, pii: list[tuple[str, str, str]], form: str) -> None:
        for _, raw, _ in pii:
            assert raw in text, (raw, text)
        out.append(
            {"text": text, "pii": [{"kind": k, "raw": r, "value": v} for k, r, v in pii], "form": form}
        )

    for form, write in MOBILE_FORMS.items():
        for k in range(3):
            d = mobile()
            raw = write(d)
            add(rng.choice(SENTENCES).format(raw) if k else raw, [("mobile", raw, d)], f"mobile/{form}")

    landline_forms: dict[str, Callable[[str, str], str]] = {
        "dash": lambda a, n: f"{a}-{n}",
        "plain": lambda a, n: a + n,
        "spaces": lambda a, n: f"{a} {n}",
        "parentheses": lambda a, n: f"({a}){n}",
        "cn-parentheses": lambda a, n: f"（{a}）{n}",
        "split-number": lambda a, n: f"{a}-{n[:4]}-{n[4:]}",
        "cn-commas": lambda a, n: f"{a}，{n[:4]}，{n[4:]}",
        "full-width": lambda a, n: f"{a}-{n}".translate(FULL),
        "spoken": lambda a, n: f"{spoken(a)}{spoken(n)}",
        "extension": lambda a, n: f"{a}-{n}转8",
    }
    for form, write_landline in landline_forms.items():
        for k in range(3):
            area, number = landline()
            core = write_landline(area, number)
            raw = core.removesuffix("转8")
            text = ("座机" + core) if k == 1 else ("公司电话是 " + core + " 上班时间打") if k == 2 else core
            add(
                text,
                [("landline", raw.strip("()（）") if form.endswith("parentheses") else raw, area + number)],
                f"landline/{form}",
            )

    id_forms: dict[str, Callable[[str], str]] = {
        "plain": lambda d: d,
        "lowercase-x": lambda d: d.lower(),
        "spaces-6-8-4": lambda d: split(d, (6, 8), " "),
        "dashes": lambda d: split(d, (6, 8), "-"),
        "cn-commas": lambda d: split(d, (6, 8), "，"),
        "full-width": lambda d: d.translate(FULL),
        "spoken": lambda d: spoken(d[:17]) + d[17],
        "in-sentence": lambda d: d,
    }
    for form, write in id_forms.items():
        for k in range(4):
            d = id_card()
            while form == "lowercase-x" and not d.endswith("X"):
                d = id_card()
            raw = write(d)
            text = (
                ("身份证号" + raw + "，名字写张三")
                if k % 2
                else ("我身份证是 " + raw)
                if form == "in-sentence"
                else raw
            )
            add(text, [("id_card", raw, d)], f"id_card/{form}")

    card_forms: dict[str, Callable[[str], str]] = {
        "plain": lambda d: d,
        "spaces-4": lambda d: " ".join(d[i : i + 4] for i in range(0, len(d), 4)),
        "dashes-4": lambda d: "-".join(d[i : i + 4] for i in range(0, len(d), 4)),
        "cn-commas": lambda d: (
            "，".join(d[i : i + 4] for i in range(0, len(d), 4) if len(d[i : i + 4]) >= 3)
            if len(d) % 4 in (0, 3)
            else d
        ),
        "full-width": lambda d: d.translate(FULL),
        "spoken": spoken,
        "split-6": lambda d: split(d, (6,), " "),
    }
    for form, write in card_forms.items():
        for k in range(4):
            d = bank_card()
            raw = write(d)
            text = (
                ("银行卡号：" + raw + " 户名李四") if k % 2 else ("退款打到这张卡 " + raw) if k == 2 else raw
            )
            add(text, [("bank_card", raw, d)], f"bank_card/{form}")

    emails = ("zhang.san@example.com", "lisi_88@163.com", "WangWu2020@QQ.COM", "a.b-c@sub.mail.cn",
              "123456789@qq.com", "xiao+jd@gmail.com", "ops@company.com.cn", "li.ming@126.com")  # fmt: skip
    for k, address in enumerate(emails):
        add(address, [("email", address, address)], "email/plain")
        add(f"发到我邮箱{address}吧", [("email", address, address)], "email/in-sentence")
        wide = address.replace("@", "＠")
        add(f"邮箱：{wide}", [("email", wide, address)], "email/full-width-at")
        if k < 4:
            spaced = f"邮箱 {address} 谢谢"
            add(spaced, [("email", address, address)], "email/spaced")

    wechat_ids = ("zhangsan88", "Li_Ming2020", "wxid_a1b2c3d4", "xiaomei-1990", "Tom_Cat_007", "abc123def",
                  "jd_fans_2018", "sunny5566")  # fmt: skip
    wechat_forms = ("微信号：{}", "我微信是{}", "加我vx {}", "wx: {}", "V信 {}", "微信 {} 加一下", "vx号{}", "威信{}",
                    "加微{}", "微信ID：{}")  # fmt: skip
    for k, form in enumerate(wechat_forms):
        for wid in (wechat_ids[k % len(wechat_ids)], wechat_ids[(k + 3) % len(wechat_ids)]):
            add(form.format(wid), [("wechat", wid, wid)], "wechat/" + form.split("{")[0].strip())
    for number in ("28546371", "7654321"):
        add(f"微信号 {number}", [("wechat", number, number)], "wechat/numeric")

    qq_numbers = (
        "123456789",
        "98765432",
        "5566778",
        "1029384756",
        "87654321",
        "33445566",
        "410562287",
        "2718281828",
    )
    qq_forms = (
        "QQ {}",
        "qq:{}",
        "我的qq是{}谢谢",
        "QQ号：{}",
        "扣扣{}",
        "企鹅号 {}",
        "q号{}",
        "加我QQ{}，备注京东",
    )
    for k, form in enumerate(qq_forms):
        for number in (qq_numbers[k], qq_numbers[(k + 5) % len(qq_numbers)]):
            add(form.format(number), [("qq", number, number)], "qq/" + form.split("{")[0].strip())
    for number in ("123456789", "87654321"):
        raw = spoken(number)
        add(f"扣扣{raw}", [("qq", raw, number)], "qq/spoken")
        raw = split(number, (4,), " ")
        add(f"QQ {raw}", [("qq", raw, number)], "qq/spaces")

    # Several values in one utterance.
    for _ in range(6):
        m, i, c = mobile(), id_card(), bank_card()
        m_raw = split(m, (3, 4), rng.choice((" ", "-", "，")))
        add(
            f"手机{m_raw}，身份证{i}，卡号{c}",
            [("mobile", m_raw, m), ("id_card", i, i), ("bank_card", c, c)],
            "multi/mobile-id-card",
        )
        m2 = mobile()
        add(
            f"微信就是手机号{m2}，邮箱li.lei@163.com，QQ 66554433",
            [
                ("mobile", m2, m2),
                ("email", "li.lei@163.com", "li.lei@163.com"),
                ("qq", "66554433", "66554433"),
            ],
            "multi/mobile-email-qq",
        )

    negatives = (
        "价格1999元，2023-01-15 13:45，数量12",
        "订单号13812345678",
        "运单号 JD0012345678901",
        "订单123456789012已经发货",
        "拨打12315投诉",
        "热线400-820-8820",
        "客服电话 95118",
        "我要退两件，一共三百二十块",
        "1、2、3、4、5、6、7、8、9、10",
        "2018.01.15 到 2018.02.15",
        "发票金额 12,345.67 元",
        "尺码是 42，颜色选 3 号，数量 2",
        "下午 3 点到 5 点之间送",
        "型号 SM-G9550 128G",
        "SN13812345678",
        "[电话x]，[数字x]件，[订单x]",
        "一二三四五六七八九十",
        "12812345678",
        "退款 1,299.00 元已到账",
        "第 1 2 3 件都坏了",
        "微信支付了12000元",
        "QQ群 123456",
        "关注微信公众号京东客服",
        "我用QQ邮箱注册的",
        "2019年12月12日下单，12月15日到货",
        "重量 1.5kg，尺寸 30×20×10 cm",
        "条码 6901234567892",
        "京东卡 100 元面值 5 张",
        "我打了 10086 没人接",
        "已经等了 3，4 天了",
    )
    for text in negatives:
        add(text, [], "negative")
    return out


def main() -> None:
    """Write the corpus, one JSON object a line."""
    rows = cases()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    values = sum(len(row["pii"]) for row in rows)
    sys.stdout.write(f"{len(rows)} cases, {values} values -> {OUT}\n")


if __name__ == "__main__":
    main()
