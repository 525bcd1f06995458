"""Phrases Whisper invents on silence, music or noise, cut out of transcripts by the ASR stage."""

from __future__ import annotations

# Phrases Whisper invents on silence, music or noise: it learned them from subtitle credits of online
# videos. Matched after t2s conversion, ignoring spaces and punctuation. A segment made only of these
# phrases is dropped; the ones in PHANTOM_ANYWHERE are also cut out of longer segments, because no
# customer-service conversation says them.
PHANTOM_ANYWHERE: tuple[str, ...] = (
    "字幕由Amara.org社群提供",
    "字幕由Amara.org社区提供",
    "由Amara.org社群提供的字幕",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "请不吝点赞订阅转发打赏",
    "支持明镜与点点栏目",
    "明镜与点点栏目",
    "中文字幕志愿者",
    "字幕志愿者",
    "字幕提供",
)
PHANTOM_WHOLE: tuple[str, ...] = (
    "谢谢观看",
    "感谢观看",
    "谢谢收看",
    "谢谢大家观看",
    "请订阅",
    "订阅我的频道",
    "请订阅我的频道",
    "欢迎订阅",
    "点赞订阅",
    "下集再见",
    "我们下期再见",
)
