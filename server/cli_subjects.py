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
from photocomic.tools.owner.contract import DrawSheet
from photocomic.tools.words import plural
from pydantic import BaseModel

from .cli_comics import show_comic
from .cli_common import command, door_of, json_flag, option, photo_items, shown, store_flags


def _subject_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="teach NAME from photos (adding again adds examples)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--photo", action="append", default=[], help="photo id or path that shows it")
    add.add_argument("--not", dest="not_photos", action="append", default=[],
                     help="photo id or path that does not show it")  # fmt: skip
    actions.add_parser("list", help="the subjects and how many photos show each")
    show = actions.add_parser("show", help="a subject's examples, counts and when it was trained")
    show.add_argument("name", metavar="NAME")
    remove = actions.add_parser("remove", help="forget a subject (its photos stay)")
    remove.add_argument("name", metavar="NAME")
    rename = actions.add_parser("rename", help="give a subject another name")
    rename.add_argument("name", metavar="NAME")
    rename.add_argument("new_name", metavar="NEW_NAME")
    sheet = actions.add_parser(
        "sheet", help="draw NAME's character sheet in a style (later comics follow it)"
    )
    sheet.add_argument("name", metavar="NAME")
    for flag in ("style", "prompt", "use", "variants", "quality", "model", "backend", "dry_run"):
        option(sheet, f"--{flag.replace('_', '-')}", DrawSheet, flag)
    for sub in (add, show, remove, rename, sheet, actions.choices["list"]):
        store_flags(sub)
        json_flag(sub)


@command(
    "subject",
    "named subjects (a pet, a person, a car): teach, list, show, remove, rename, draw a sheet",
    _subject_arguments,
)  # fmt: skip
def cmd_subject(args: argparse.Namespace) -> int:
    door = door_of(args)
    action = args.action
    if action == "sheet":
        request = DrawSheet(
            subject=args.name, style=args.style, prompt=args.prompt, use=args.use,
            variants=args.variants, quality=args.quality, model=args.model,
            backend=args.backend, dry_run=args.dry_run,
        )  # fmt: skip
        return show_comic(args, door, door.call(request))
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
    sheets = f", sheets: {', '.join(s.style for s in info.sheets)}" if info.sheets else ""
    floor = "at least " if info.estimate_is_floor else ""
    return (
        f"{info.name}: {plural(info.positives, 'example')}, "
        f"{plural(info.negatives, 'counter-example')}, "
        f"{floor}{plural(info.estimate or 0, 'photo')}{sheets}"
    )


def _taught(answer: SubjectAnswer) -> str:
    lines = [_line(answer.subject), "its best photos now:"]
    for hit in answer.photos.results[0].hits:
        lines.append(f"  #{hit.rank:<3} {hit.score:.3f}  {hit.photo_id:>16}  {shown(hit.path)}")
    return "\n".join(lines + [f"note: {n}" for n in answer.subject.notes])


def _details(info: SubjectInfo) -> str:
    lines = [_line(info), f"trained: {info.trained_at or 'never'}", "examples:"]
    lines += [f"  {p.photo_id:>16}  {shown(p.path)}" for p in info.examples]
    lines += [f"character sheet ({s.style}): {s.comic_id}" for s in info.sheets]
    return "\n".join(lines + [f"note: {n}" for n in info.notes])
