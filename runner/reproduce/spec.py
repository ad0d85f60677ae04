"""The declarative types of a reproduction table.

A table (`TableSpec`) is a list of systems (`System`). A system is a search
(`Stage` with an ``id``: systems that name the same search share its runs),
a fixed architecture, or both, followed by an optional retraining from
scratch (`Stage`). Each stage gives its gin files and bindings per scale:
``paper`` (the papers' settings, for GPUs), ``cpu`` (a reduced budget for 2
CPU cores) and ``smoke`` (a tiny budget that checks the plumbing end to
end; its numbers mean nothing).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

SCALES = ("paper", "cpu", "smoke")

ROLES = ("method", "RS", "RS-WS", "baseline", "published")
"""A system's role: the paper's method, random search from scratch (RS),
random sampling with shared weights and the same derive (RS-WS, Li &
Talwalkar 2019), a hand-designed baseline (the LSTM), or a published
architecture retrained here."""


@dataclasses.dataclass(frozen=True)
class Gin:
  """Gin files and bindings, applied in order."""

  files: tuple[str, ...]
  bindings: tuple[str, ...] = ()

  def plus(self, *bindings: str) -> "Gin":
    return Gin(self.files, self.bindings + tuple(bindings))


@dataclasses.dataclass(frozen=True)
class Stage:
  """A search or a retraining, configured per scale.

  Attributes:
    scales: scale name -> gin configuration.
    data: the configurable that reads the data set (``EnasConfig``,
      ``FinalTrainingConfig``, ``ImageClassificationTask``, ``EnasRnnConfig``,
      ``RnnFinalConfig``, ``LanguageModelTask``): --data_dir is bound there.
    kind: ``'image'`` or ``'ptb'`` (what --data_dir holds).
    id: a search's name; systems naming the same id share its runs.
  """

  scales: Mapping[str, Gin]
  data: str
  kind: str = "image"
  id: str = ""

  def gin(self, scale: str) -> Gin:
    return self.scales[scale]


@dataclasses.dataclass(frozen=True)
class Number:
  """A published number (the paper's or an independent reproduction's).

  Attributes:
    text: the number as printed, unit included ("3.54% test error").
    source: where it was published (paper, table, or README / thread).
    verified: True only when read from the publication's own text.
    value: the number in the table's metric when comparable (accuracy for
      test error), else None.
  """

  text: str
  source: str
  verified: bool
  value: float | None = None


@dataclasses.dataclass(frozen=True)
class System:
  """One row of a table.

  Attributes:
    name: the row label (unique in its table).
    role: one of `ROLES`.
    search: the search that finds its architecture, or None.
    arc: a fixed architecture (string or a task's named one) when there is
      no search.
    final: the retraining from scratch (None: no retraining, e.g. cost rows).
    paper: the paper's number for this system.
    reproductions: independent reproductions of it.
    params_paper: the published parameter count, as printed.
    search_cost_paper: the published search cost, as printed.
    hardware_paper: the paper's hardware for it.
    paper_device_hours: expected GPU hours per seed at paper scale (search
      plus retraining; rough, from the papers' own times where they give one).
    cpu_minutes: expected minutes per seed at cpu scale on an idle 2-core
      machine (from experiments/RESULTS.md's measured step costs).
    note: anything a reader must know about the row.
  """

  name: str
  role: str
  search: Stage | None = None
  arc: str | None = None
  final: Stage | None = None
  paper: Number | None = None
  reproductions: tuple[Number, ...] = ()
  params_paper: str = ""
  search_cost_paper: str = ""
  hardware_paper: str = ""
  paper_device_hours: float = 0.0
  cpu_minutes: float = 0.0
  note: str = ""

  @property
  def id(self) -> str:
    return "".join(c if c.isalnum() else "_" for c in self.name.lower()).strip("_")


@dataclasses.dataclass(frozen=True)
class TableSpec:
  """A reproduction table.

  Attributes:
    name: the --table name.
    title: the table's title (the data set is added at run time).
    kind: ``'search'`` (search + retrain rows), ``'search_cost'``,
      ``'params'`` (counts at paper settings, no data) or ``'ranking'``.
    metric: the retrained score compared: ``'test_accuracy'`` or
      ``'test_ppl'`` (``'params'`` for the params table).
    systems: the rows.
    seeds: default number of seeds per scale.
    reductions: per scale, exactly what differs from the papers' settings.
    claims: the claims of the papers this table tests (RESULTS.md).
    ranking_archs: ranking tables: how many architectures per scale.
  """

  name: str
  title: str
  kind: str
  metric: str
  systems: tuple[System, ...]
  seeds: Mapping[str, int]
  reductions: Mapping[str, str]
  claims: tuple[str, ...] = ()
  ranking_archs: Mapping[str, int] = dataclasses.field(default_factory=dict)
  image_data: bool = False

  def system(self, name: str) -> System:
    for system in self.systems:
      if system.name == name or system.id == name:
        return system
    raise KeyError(name)
