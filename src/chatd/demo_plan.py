"""What `chatd demo` makes, decided from a seed alone: people with names like "alice.ivanova" or
"анна.смирнова", chats of varied sizes, and messages spread over them as in a real server (a few
busy chats, many quiet ones; a few chatty members in each).

Names and texts are in English and Russian on purpose: the demo data exercises non-ASCII names,
case-insensitive name lookups and Cyrillic text end to end.
"""

# ruff: noqa: RUF001  (Cyrillic letters here are meant, not look-alikes of Latin ones)

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from typing import NamedTuple

PRIVATE_SHARE = 0.3  # of the chats, those between two people (the rest are groups)


def _words(text: str, separator: str = "|") -> list[str]:
    return text.split(separator)


_FIRST = {  # (female, male) first names; Cyrillic ones pair with Cyrillic surnames
    "latin": (
        _words(
            "alice emma olivia sophia mia grace chloe lucy hannah zoe maria anna julia nina", " "
        ),
        _words("bob james liam noah oliver ethan lucas henry jack leo max daniel peter tom", " "),
    ),
    "cyrillic": (
        _words(
            "анна мария елена ольга татьяна наталья ирина светлана дарья полина ксения алиса", " "
        ),
        _words(
            "иван алексей дмитрий сергей андрей михаил николай павел артём егор максим илья", " "
        ),
    ),
}
_SURNAMES = {  # the male form (ivanov); the female adds an "a" (ivanova)
    "latin": _words(
        "ivanov smirnov kuznetsov popov petrov sokolov novikov fedorov morozov volkov "
        "lebedev semenov egorov pavlov kozlov stepanov orlov makarov zaitsev belov",
        " ",
    ),
    "cyrillic": _words(
        "иванов смирнов кузнецов попов соколов лебедев козлов новиков морозов петров "
        "волков соловьёв васильев зайцев павлов семёнов голубев виноградов богданов",
        " ",
    ),
}
_FEMININE = {"latin": "a", "cyrillic": "а"}
_GROUPS = _words(
    "Book club|Backend team|Weekend hikes|Football on Thursdays|Design reviews|Board games|"
    "Release planning|Parents of 3B|Coffee break|Running club|Photo walks|Flat 12 neighbours|"
    "Семья|Дача|Однокурсники|Отдел продаж|Поход в горы|Соседи по дому|Книжный клуб|"
    "Футбол по средам|Английский язык|Ремонт квартиры|День рождения Маши|Рыбалка"
)
_PHRASES = {
    "latin": _words(
        "hi everyone|sounds good|on my way|can we move it to 5?|I'll send the file tonight|"
        "did anyone see the latest build?|thanks!|lol|agreed|let me check and come back to you|"
        "who is bringing snacks?|the meeting is in room 4|great job on the release|"
        "I'm running ten minutes late|see you tomorrow|what do you think about the new design?|"
        "ok|+1|photos from the weekend are in the shared folder|could someone review my PR?"
    ),
    "cyrillic": _words(
        "привет всем|отлично, договорились|уже еду|давайте перенесём на пять?|скину файл вечером|"
        "кто видел последнюю сборку?|спасибо!|ага|согласен|посмотрю и отпишусь|кто берёт еду?|"
        "встреча в четвёртой переговорке|поздравляю с релизом|опаздываю минут на десять|"
        "до завтра|как вам новый дизайн?|ок|+1|фотографии с выходных в общей папке|"
        "кто-нибудь посмотрит мой пул-реквест?"
    ),
}


class ChatPlan(NamedTuple):
    name: str | None  # None: a private chat between the two members
    members: list[int]  # indices into the people; the first owns a group
    script: str  # "latin" or "cyrillic": the language most of its messages are in


def plan_people(rng: random.Random, count: int) -> list[str]:
    """`count` distinct usernames like "alice.ivanova" (a quarter in Cyrillic)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for _ in range(count):
        script = "cyrillic" if rng.random() < 0.25 else "latin"
        female = rng.random() < 0.5
        first = rng.choice(_FIRST[script][0 if female else 1])
        surname = rng.choice(_SURNAMES[script])
        base = f"{first}.{surname}{_FEMININE[script] if female else ''}"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}{seen[base]}")
    return names


def plan_chats(rng: random.Random, count: int, people: int) -> list[ChatPlan]:
    """Private chats between random pairs, and groups of varied sizes (mostly small, a few big);
    each person is in at least one group when there is any group."""
    private = min(round(count * PRIVATE_SHARE), people * (people - 1) // 2) if people > 1 else 0
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < private:
        low, high = sorted(rng.sample(range(people), 2))
        pairs.add((low, high))
    sizes = [_group_size(rng, people) for _ in range(count - private)]
    waiting = list(range(people))  # who is in no group yet
    rng.shuffle(waiting)
    groups: list[list[int]] = []
    for size in sizes:
        chosen, waiting = waiting[:size], waiting[size:]
        others = [person for person in rng.sample(range(people), size) if person not in chosen]
        groups.append(chosen + others[: size - len(chosen)])
    for position, person in enumerate(waiting if groups else []):  # more people than places
        groups[position % len(groups)].append(person)
    plans = [
        # Either of the two may write first.
        ChatPlan(None, rng.sample(pair, 2), rng.choice(("latin", "cyrillic")))
        for pair in sorted(pairs)
    ]
    names = rng.sample(_GROUPS, len(_GROUPS))
    for number, chosen in enumerate(groups):
        base = names[number % len(names)]
        name = base if number < len(_GROUPS) else f"{base} {number // len(_GROUPS) + 1}"
        script = "cyrillic" if any(ord(ch) > 0x400 for ch in name) else "latin"
        plans.append(ChatPlan(name, chosen, script))
    return plans


def _group_size(rng: random.Random, people: int) -> int:
    kind = rng.random()
    size = rng.randint(3, 6) if kind < 0.5 else rng.randint(7, 20) if kind < 0.85 else 0
    return min(size or rng.randint(21, 150), people)


def plan_messages(
    rng: random.Random, chats: Sequence[ChatPlan], count: int, max_length: int
) -> Iterator[tuple[int, int, str]]:
    """`count` messages as (chat index, author index, text): chats by a Zipf-like weight (a few
    busy ones, many quiet), authors among the chat's members (a few chatty ones)."""
    if not chats:
        return
    ranks = list(range(1, len(chats) + 1))
    rng.shuffle(ranks)
    chat_weights = list(itertools.accumulate(rank**-1.2 for rank in ranks))
    author_weights = [
        list(itertools.accumulate(1 / (i + 1) for i in range(len(c.members)))) for c in chats
    ]
    for _ in range(count):
        (chat,) = rng.choices(range(len(chats)), cum_weights=chat_weights)
        (author,) = rng.choices(chats[chat].members, cum_weights=author_weights[chat])
        yield chat, author, message_text(rng, chats[chat].script, max_length)


def message_text(rng: random.Random, script: str, max_length: int) -> str:
    """Mostly a short line; sometimes a few sentences, a paragraph, or a long multi-line text."""
    if rng.random() < 0.1:
        script = "cyrillic" if script == "latin" else "latin"
    shape = rng.random()
    count = 1 if shape < 0.6 else rng.randint(2, 4) if shape < 0.9 else rng.randint(5, 60)
    if count == 1:  # a chat line, as typed
        text = rng.choice(_PHRASES[script])
    else:
        sentences = [_sentence(rng.choice(_PHRASES[script])) for _ in range(count)]
        text = "\n".join(" ".join(sentences[i : i + 6]) for i in range(0, count, 6))
    return (text + (" 🙂" if rng.random() < 0.05 else ""))[:max_length]


def _sentence(phrase: str) -> str:
    ending = "" if phrase[-1] in ".?!" else "."
    return phrase[0].upper() + phrase[1:] + ending
