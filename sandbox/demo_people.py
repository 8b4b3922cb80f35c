"""The demo history's residents and what people say in it, in Chinese and English."""

from __future__ import annotations

from typing import Any

RESIDENTS = 8  # per community

# What residents write, per category; "|" between the variants.
WHAT_ZH = {
    "parcels": "快递堆在路上，进出很不方便。|驿站的包裹摆满了人行道。",
    "construction-waste": "装修垃圾堆了好几天没人清。|楼下渣土越堆越多。",
    "broken-facility": "单元门门禁坏了，关不上。|健身器材断了一根，小孩容易受伤。",
    "sanitation": "垃圾桶满了没人清，有异味。|楼道里有人乱扔垃圾。",
    "noise": "晚上广场舞音响太吵。|楼上装修周末一早就开工。",
    "parking": "消防通道被私家车堵住了。|有车长期占用别人的车位。",
    "water-leak": "楼上漏水，天花板在滴水。|地下车库水管爆了。",
    "elevator": "电梯门关不上，一直在响。|电梯运行时有异响。",
    "safety-hazard": "路边井盖松动了。|楼道里电线裸露。",
    "other": "小区路灯不亮了。|快递柜屏幕坏了。",
}
WHAT_EN = {
    "parcels": "Parcels piled on the road, hard to get by.|Parcel boxes fill the footpath.",
    "construction-waste": "Renovation waste left for days.|Rubble keeps piling up downstairs.",
    "broken-facility": "The entrance door lock is broken.|A fitness machine is broken.",
    "sanitation": "Bins overflowing and smelly.|People dump rubbish in the stairwell.",
    "noise": "Square-dance music too loud at night.|Renovation noise early at weekends.",
    "parking": "A car is blocking the fire lane.|A car has been in my space for days.",
    "water-leak": "Water dripping through the ceiling.|A burst pipe in the garage.",
    "elevator": "The lift door will not close.|The lift makes a grinding noise.",
    "safety-hazard": "A loose manhole cover by the road.|Bare wires in the stairwell.",
    "other": "The street lights are out.|The parcel locker screen is broken.",
}
SPOTS = ("门口|楼下|东侧|单元门前", "entrance|downstairs|east side|doorway")
NOTES = {  # what people say along the way: (zh, en)
    "resolve": ("已处理完毕，请查看。", "Done; please have a look."),
    "reject": ("不属于物业管理范围，已转交相关部门。", "Not a property matter; passed on."),
    "decline": ("不归本物业负责。", "Not ours to handle."),
    "reassign": ("请主管跟进处理。", "Supervisor, please take this on."),
    "cancel": ("已经自己解决了。", "Sorted it out myself."),
    "rate:3": ("只处理了一半，问题还在。", "Only half done; the problem is still there."),
    "close": ("已当面说明，纳入小区改造计划。", "Explained in person; in next year's works."),
}
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭",
    "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo",
)
TITLES = ("先生|女士|阿姨|大爷", "Mr|Ms|Mrs|Miss")


def residents(data: dict[str, Any], language: str) -> list[dict[str, Any]]:
    """The history's residents, a few per community; a third also on Telegram."""
    lang = 1 if language == "en" else 0
    names = SURNAMES[1].split() if lang else list(SURNAMES[0])
    titles = TITLES[lang].split("|")
    people = []
    for c, community in enumerate(data["communities"]):
        buildings = community.get("buildings") or []
        for i in range(RESIDENTS):
            k = c * RESIDENTS + i
            name, title = names[k % len(names)], titles[(k + k // len(names)) % len(titles)]
            person: dict[str, Any] = {
                "id": f"h-{community['id']}-{i}",
                "name": f"{title} {name}" if lang else f"{name}{title}",
                "role": "resident",
                "language": language,
                "community": community["id"],
                "phone": f"+86137{k:08d}",  # apart from the directory's +86139… and the stories'
            }
            if i % 3 == 0:
                person["telegram_id"] = 5001 + k
            if buildings:
                person["building"] = buildings[i % len(buildings)]
            people.append(person)
    return people
