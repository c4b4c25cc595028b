"""``photocomic subject``: teach the library a name (a pet, a person) and look after it."""

from __future__ import annotations

import argparse
import json
import sys

from photocomic.tools.find.contract import (
    ForgetSubject,
    ListSubjects,
    RenameSubject,
    ShowSubject,
    SubjectAnswer,
    SubjectInfo,
    SubjectRequest,
)
from photocomic.tools.owner.client import Door
from pydantic import BaseModel

from .cli_common import photo_items


def run_subject(args: argparse.Namespace, door: Door) -> int:
    action = args.action
    if action == "add":
        request = SubjectRequest(
            name=args.name, photos=photo_items(args.photo), not_photos=photo_items(args.not_photos)
        )
        answer = door.call(request)
        return _show(args, answer, _taught(answer))
    if action == "list":
        listed = door.call(ListSubjects())
        lines = [_line(s) for s in listed.subjects] or ["no subjects yet: photocomic subject add"]
        return _show(args, listed, "\n".join(lines))
    if action == "show":
        info = door.call(ShowSubject(name=args.name))
        return _show(args, info, _details(info))
    if action == "remove":
        info = door.call(ForgetSubject(name=args.name))
        return _show(args, info, f"forgot {info.name} (its photos stay in the library)")
    info = door.call(RenameSubject(name=args.name, new_name=args.new_name))
    return _show(args, info, f"renamed to {info.name}")


def _show(args: argparse.Namespace, value: BaseModel, text: str) -> int:
    if args.json:
        json.dump(value.model_dump(mode="json"), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(text)
    return 0


def _line(info: SubjectInfo) -> str:
    about = "at least" if info.estimate_is_floor else "about"
    return (
        f"{info.name}: {info.positives} examples, {info.negatives} counter-examples, "
        f"{about} {info.estimate} photos"
    )


def _taught(answer: SubjectAnswer) -> str:
    lines = [_line(answer.subject), "its best photos now:"]
    for hit in answer.photos.results[0].hits:
        lines.append(f"  #{hit.rank:<3} {hit.score:.3f}  {hit.photo_id:>16}  {hit.path}")
    return "\n".join(lines + [f"note: {n}" for n in answer.subject.notes])


def _details(info: SubjectInfo) -> str:
    lines = [_line(info), f"trained: {info.trained_at or 'never'}", "examples:"]
    lines += [f"  {p.photo_id:>16}  {p.path}" for p in info.examples]
    return "\n".join(lines + [f"note: {n}" for n in info.notes])
