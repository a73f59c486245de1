"""The registered models as a table:  zoo list

    model        family          capabilities                 conditional  paper
    vae          vae             sample,encode,decode,...     no           Kingma, Welling. ...

Everything is read from the classes, so there is no per-model metadata to
keep in step with the code: the family is the zoo sub-package the class
lives in, the paper is the first entry under "References:" in its docstring,
capabilities are the hooks it overrides, and "conditional" comes from its
constructor's `num_classes` argument.
"""

import argparse
import inspect
import re
import sys

COLUMNS = ("model", "family", "capabilities", "conditional", "paper")


def capabilities(cls):
    """What `cls(...).capabilities` returns, read from the class alone.

    The base reports a capability where the class overrides its hook
    (`_sample`, `_encode`, ...), so the class answers without a model being
    built (networks and all) just to ask; tests/test_package.py checks that
    the two agree for every registered model.
    """
    from zoo.base import CAPABILITIES, GenerativeModel

    return tuple(c for c in CAPABILITIES
                 if getattr(cls, f"_{c}") is not getattr(GenerativeModel, f"_{c}"))


def conditional(cls):
    """From the constructor's `num_classes`: required (labels must be given),
    optional or no."""
    param = inspect.signature(cls.__init__).parameters.get("num_classes")
    if param is None:
        return "no"
    # A model that defaults to no classes is unconditional unless asked.
    return "optional" if param.default is None else "required"


def family(cls):
    """The zoo sub-package of the class: zoo.gan.wgan.WGAN -> "gan"."""
    parts = cls.__module__.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "zoo" else parts[0]


_REFERENCE = re.compile(r"^\s*\[(\d+)\]\s*(.*)$")


def paper(cls):
    """The first reference of the class docstring ("" when it has none).

    Looks at the class, then its zoo bases and its module, so a model that
    leaves the citation to its family base still gets one.
    """
    sources = [c.__doc__ for c in cls.__mro__ if c.__module__.startswith("zoo.")]
    sources.append(getattr(sys.modules.get(cls.__module__), "__doc__", None))
    for doc in sources:
        found = first_reference(inspect.cleandoc(doc or ""))
        if found:
            return found
    return ""


def first_reference(doc):
    """The first entry under "References:" in `doc`, wrapped lines joined."""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "References:")
    except StopIteration:
        return ""
    text = None
    for line in lines[start + 1:]:
        match = _REFERENCE.match(line)
        if text is None:
            text = match.group(2) if match else None
        elif match or not line.strip():
            break  # the second reference, or the end of the section
        else:
            text += " " + line.strip()  # a wrapped continuation line
    return text or ""


def rows():
    """One dict per registered model, keyed by `COLUMNS`, sorted by name."""
    import zoo

    table = []
    for name in zoo.list_models():
        cls = zoo.get_class(name)
        table.append({"model": name, "family": family(cls),
                      "capabilities": ",".join(capabilities(cls)) or "-",
                      "conditional": conditional(cls), "paper": paper(cls) or "-"})
    return table


def format_table(table):
    """Left-aligned columns; the last one (paper) is not padded."""
    widths = {c: max([len(c)] + [len(r[c]) for r in table]) for c in COLUMNS}
    lines = []
    for row in [dict(zip(COLUMNS, COLUMNS))] + table:
        cells = [row[c].ljust(widths[c]) for c in COLUMNS[:-1]] + [row[COLUMNS[-1]]]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def main(argv=None):
    """`zoo list`; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="zoo list", description="List the registered models: model, family, "
                                     "capabilities, conditional, paper.")
    parser.parse_args(argv)
    print(format_table(rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
