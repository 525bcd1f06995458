"""Write models/abuse/cs_examples.tsv: our own labelled customer-service examples (hand-written + templates).

Run once; the TSV is committed and is what training reads. Training rows are short templates crossed with
hand-written fillers; held-out rows are separately hand-written sentences (no template shared with training),
so the held-out score is not a near-duplicate lookup.
"""

from __future__ import annotations

import itertools
from pathlib import Path

OUT = Path(__file__).resolve().parent / "cs_examples.tsv"

HEADER = """\
# Customer-service abuse examples for the abuse detector (models/abuse). Our own work, written for this
# project by hand and expanded from the templates in make_cs_examples.py; no third-party text.
# Columns (tab-separated): label (1 = abuse aimed at a person: insult, threat of harm, degrading language;
#   0 = not abuse, including angry complaints about a product, a delivery or the company), part (train |
#   heldout: held-out rows are never trained on and use other wording than the training rows), speaker
#   (customer | agent: who would say it), text.
"""

# --- not abuse: complaints aimed at a service, a parcel, a company (training) -----------------------------
COMPLAINT_OBJECTS = [
    "你们这服务",
    "这快递",
    "你们的售后",
    "这个质量",
    "这物流",
    "你们家的东西",
    "这客服系统",
    "你们的态度",
]
COMPLAINT_VERDICTS = ["太差了", "真垃圾", "太坑了", "烂透了", "差劲死了", "让人失望", "太慢了"]
COMPLAINT_FIXED = [
    "垃圾快递三天还没到",
    "我要投诉",
    "再不退款我就去12315",
    "我要打12315投诉你们",
    "你们这是欺骗消费者",
    "什么破东西，用两天就坏了",
    "气死我了，到底什么时候发货",
    "你们是不是骗子公司啊，钱付了不发货",
    "差评，再也不买了",
    "你们客服怎么回事，半天不回",
    "我等了一个星期了还没到",
    "能不能快点处理",
    "你们就是这样对待顾客的吗",
    "这都第三次了还没解决",
    "我要找你们领导",
    "不退款我就去消协告你们",
    "这么垃圾的质量也好意思卖",
    "坑人啊，跟图片完全不一样",
    "太过分了吧，说好的七天无理由呢",
    "我真是服了你们了",
    "你们到底管不管",
    "我不想听解释，给我退钱",
    "烦死了，又让我等",
    "怎么又是机器人回复",
    "这快递员太不负责了，直接扔门口",
    "垃圾物流，包裹都压烂了",
    "你们这售后简直是摆设",
    "无语，又延迟发货",
    "我要给差评",
    "你们这样做生意迟早倒闭",
    "太失望了，京东也这样",
    "快点给我处理好不好",
    "不要再敷衍我了",
    "你们说话算不算数",
    "退款退了半个月还没到账",
    "这手机屏幕是坏的，你们怎么检查的",
]
# --- not abuse: ordinary agent lines, including firm refusals -------------------------------------------
AGENT_OK = [
    "您好，很高兴为您服务",
    "请您稍等，正在为您查询",
    "非常抱歉给您带来不便",
    "这个订单暂时不能退款",
    "不好意思，这个超出了售后期限",
    "您可以在订单详情里申请售后",
    "理解您的心情，我马上帮您催一下",
    "这边没办法修改地址了，已经出库",
    "请问还有什么可以帮您",
    "感谢您的耐心等待",
    "这个需要您自己在页面上操作",
    "亲，快递显示明天送达",
    "抱歉，这边查不到您的订单",
    "这个我们这边做不了",
    "您说的情况我已经记录了",
    "请您提供一下订单号",
    "已经帮您提交了退款申请",
    "这个问题需要联系商家处理",
    "不好意思让您久等了",
    "您的心情我理解，但是规定是这样的",
]

# --- abuse: insults aimed at a person (customer or agent side) ------------------------------------------
INSULT_SUBJECTS = ["你", "你这个人", "你这客服", "你个"]
INSULT_NOUNS = ["猪", "废物", "蠢货", "白痴", "饭桶", "傻子", "蠢猪", "垃圾人", "畜生", "狗东西"]
INSULT_FIXED = [
    "你是猪吗",
    "滚",
    "你脑子有病吧",
    "你是不是傻",
    "你有没有脑子",
    "你听不懂人话吗",
    "你会不会说人话",
    "你妈没教你怎么说话吗",
    "你智商有问题吧",
    "蠢死了你",
    "你就是个没用的东西",
    "你个死胖子",
    "滚远点",
    "你给我滚",
    "闭嘴吧你",
    "你这种人就该去死",
    "你长没长脑子",
    "跟你说话真是对牛弹琴，蠢",
    "你脑子被驴踢了吧",
    "你是不是脑残",
    "你这个贱人",
    "你算个屁",
    "你真恶心",
    "你怎么这么蠢",
    "你这种废物也配当客服",
    "你爹妈怎么生出你这种东西",
    "你个老不死的",
    "你是哑巴吗",
    "你眼瞎啊",
]
THREATS = [
    "信不信我弄死你",
    "我找人打你",
    "你给我等着，我找人收拾你",
    "小心我去你们公司砍你",
    "我知道你在哪上班，你等着",
    "再这样我弄死你",
    "出门小心点",
    "我要让你全家不得好死",
    "我要杀了你",
    "我去你家找你算账",
]
AGENT_DEGRADING = [
    "你是不是傻，这都看不懂",
    "这都不会你还网购",
    "穷就别买",
    "买不起就别买",
    "没钱还想退款",
    "你文盲吗，不会看字",
    "跟你说话真费劲，你是听不懂吗",
    "就你这样的还想投诉",
    "你这种客户我见多了，爱占便宜",
    "你脑子不好使吧",
    "你是没上过学吗",
    "说了多少遍了，你是猪吗",
    "你烦不烦啊，蠢死了",
    "这么简单都不会，真笨",
    "你有病吧，一直问",
    "你自己蠢怪谁",
    "像你这种人活该被骗",
    "乡下人就是事多",
    "你这种人就不配买东西",
    "你耳朵聋了吗",
]

# --- held out: other wording, written separately ------------------------------------------------------
HELDOUT_OK = [
    ("customer", "你们家的东西真是太次了"),
    ("customer", "三天了包裹还在原地不动，什么破物流"),
    ("customer", "客服态度太差，我要投诉你"),
    ("customer", "再拖着不处理我就去工商局"),
    ("customer", "说好的包邮结果又收运费，骗子吧"),
    ("customer", "这个破手机天天死机"),
    ("customer", "你们这效率真让人无语"),
    ("customer", "别跟我说稍等了，我等了一上午"),
    ("customer", "赶紧给我退了，垃圾产品"),
    ("customer", "我对你们的服务非常不满意"),
    ("customer", "这是我买过最差的东西"),
    ("customer", "你们是不是故意拖延时间"),
    ("customer", "快递小哥态度恶劣，我要投诉他"),
    ("customer", "你们这样做是违法的"),
    ("customer", "烦死了，到底能不能退"),
    ("customer", "我要差评，还要找媒体曝光"),
    ("customer", "怎么又断货了，耍人玩呢"),
    ("customer", "你们这个系统太烂了，付不了款"),
    ("customer", "我真的要被你们气死了"),
    ("customer", "东西收到是坏的，心情很差"),
    ("agent", "很抱歉，这个我们确实处理不了"),
    ("agent", "按照规定只能换货不能退款"),
    ("agent", "您稍等，我请主管来处理"),
    ("agent", "这个情况需要您先寄回商品"),
    ("agent", "理解您着急，我这边加急处理"),
    ("agent", "不好意思，系统显示已经签收了"),
    ("agent", "请您不要激动，我们一起解决"),
    ("agent", "这个不在保修范围内"),
    ("agent", "已经为您登记，会在24小时内回复"),
    ("agent", "亲亲，这边建议您重新下单"),
]
HELDOUT_ABUSE = [
    ("customer", "你这个蠢东西听不懂吗"),
    ("customer", "你是傻子吧，说了半天"),
    ("customer", "滚吧你，没用的玩意儿"),
    ("customer", "你脑子里装的都是浆糊吧"),
    ("customer", "你这种人活着浪费空气"),
    ("customer", "我要找人废了你"),
    ("customer", "你等着，下班我堵你"),
    ("customer", "你是不是智障"),
    ("customer", "你就是条狗"),
    ("customer", "你妈生你的时候是不是忘了给你脑子"),
    ("customer", "你个丑八怪"),
    ("customer", "你真是个废柴"),
    ("customer", "给老子闭嘴"),
    ("customer", "你个蠢驴"),
    ("customer", "你再废话我打死你"),
    ("agent", "你自己笨还怪别人"),
    ("agent", "你是不是没长脑子啊"),
    ("agent", "这种问题都问，你是白痴吗"),
    ("agent", "没文化真可怕"),
    ("agent", "穷鬼就别来买了"),
    ("agent", "你爱退不退，关我屁事，蠢货"),
    ("agent", "你是听不懂中国话吗"),
    ("agent", "你这种人真让人恶心"),
    ("agent", "你脑子进水了吧"),
    ("agent", "你这智商也就这样了"),
    ("agent", "再问一遍就拉黑你，烦死人的傻子"),
    ("agent", "你个乡巴佬懂什么"),
    ("agent", "闭上你的臭嘴"),
    ("agent", "你神经病啊"),
    ("agent", "你连这都不懂，真是蠢到家了"),
]


def rows() -> list[tuple[int, str, str, str]]:
    """(label, part, speaker, text) for every example, training rows first."""
    out: list[tuple[int, str, str, str]] = []
    for obj, verdict in itertools.product(COMPLAINT_OBJECTS, COMPLAINT_VERDICTS):
        out.append((0, "train", "customer", obj + verdict))
    out += [(0, "train", "customer", t) for t in COMPLAINT_FIXED]
    out += [(0, "train", "agent", t) for t in AGENT_OK]
    for subject, noun in itertools.product(INSULT_SUBJECTS, INSULT_NOUNS):
        out.append(
            (1, "train", "customer", f"{subject}{noun}" if subject == "你个" else f"{subject}就是个{noun}")
        )
    out += [(1, "train", "customer", t) for t in INSULT_FIXED]
    out += [(1, "train", "customer", t) for t in THREATS]
    out += [(1, "train", "agent", t) for t in AGENT_DEGRADING]
    out += [(0, "heldout", s, t) for s, t in HELDOUT_OK]
    out += [(1, "heldout", s, t) for s, t in HELDOUT_ABUSE]
    return out


def main() -> None:
    """Write the TSV."""
    body = "".join(f"{label}\t{part}\t{speaker}\t{text}\n" for label, part, speaker, text in rows())
    OUT.write_text(HEADER + body, encoding="utf-8")


if __name__ == "__main__":
    main()
