"""Metric steps registered by name: a new metric is one decorated function.

    @metric("my_metric", needs=("samples",))
    def my_metric(ctx):
        ctx.values["my_metric"] = float(...)

`needs` says what the engine prepares before the step runs ("samples":
generated images in `ctx.samples`; "features": extractor features in
`ctx.features`; a step needing features also needs samples). `applies(ctx)`
returns why the step cannot run for this target (reported as not
applicable), or None. Steps run in registration order.
"""

NEEDS = ("samples", "features")

_STEPS = {}


class EvaluationError(ValueError):
    """Bad input to the evaluation; the message says what and how to fix it."""


class MetricStep:
    """A registered metric: its function and what it needs.

    Attributes:
      name: the `--metrics` name.
      fn: fn(ctx) writes into ctx.values / ctx.not_applicable / ctx.details.
      needs: subset of NEEDS.
      extractors: for feature steps, the extractor names it uses.
      applies: fn(ctx) -> reason string when it cannot run, else None.
    """

    def __init__(self, name, fn, needs, extractors, applies):
        self.name, self.fn, self.applies = name, fn, applies
        self.needs = frozenset(needs)
        self.extractors = tuple(extractors)


def metric(name, needs=(), extractors=("classifier", "inception"), applies=None):
    """Decorator registering fn(ctx) as the metric step `name`.

    Args:
      name: the metric's `--metrics` name; unique.
      needs: what the step reads: "samples", "features" (implies samples).
      extractors: for "features" steps, which extractors' features it uses.
      applies: optional fn(ctx) -> reason or None.
    """
    unknown = set(needs) - set(NEEDS)
    if unknown or name in _STEPS:
        raise ValueError(f"metric {name!r}: unknown needs {sorted(unknown)} or a duplicate name")
    needs = set(needs) | ({"samples"} if "features" in needs else set())

    def register(fn):
        _STEPS[name] = MetricStep(name, fn, needs, extractors, applies or (lambda ctx: None))
        return fn

    return register


def names(need=None):
    """Registered metric names in order; with `need`, only the steps needing it."""
    return tuple(n for n, s in _STEPS.items() if need is None or need in s.needs)


def steps(selected):
    """The MetricSteps of the names in `selected`, in registration order."""
    return [s for n, s in _STEPS.items() if n in selected]


def parse_metrics(text):
    """'fid,kid' -> ('fid', 'kid'); None or 'all' -> every metric."""
    known = names()
    if text is None or text.strip() == "all":
        return known
    chosen = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in chosen if n not in known]
    if unknown or not chosen:
        raise EvaluationError(
            f"unknown metric(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"valid names: {', '.join(known)} (or 'all')")
    return chosen
