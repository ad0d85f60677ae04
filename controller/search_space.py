"""Search spaces as declared decision sequences, and the architectures they admit.

Every part of rlnas speaks one architecture type. A search space is an ordered
tuple of decisions (Zoph & Le 2017, §3.1: "the controller predicts ... as a
sequence of tokens"); an `Architecture` is the sequence of integer tokens the
controller emitted for them. The same tokens are what builders, supergraphs,
parsers, drawers and counting tools read, so there is no translation layer.

Decision kinds:

* `Categorical`: one softmax over a fixed list of choices (filter height, op id,
  activation...). Emits one token, the index of the choice.
* `Skip`: anchor-point attention over the anchors created so far in its scope
  (§3.3): one independent Bernoulli per earlier anchor. Emits one 0/1 token per
  anchor. Creates an anchor itself (the LSTM state at this step).
* `Pick`: attention that picks exactly one earlier anchor (the ENAS micro
  cell's input index, the ENAS RNN cell's previous node). Emits one token.
* `AnchorStep`: an LSTM step that samples nothing and only creates an anchor
  (the ENAS micro controller's steps for a cell's two inputs).

Any decision may create an anchor (`creates_anchor=True`), which later `Skip`
and `Pick` decisions of the same `scope` attend over.

Text format: the tokens as space-separated integers, in `string_order` (the
official ENAS order where one exists, e.g. the micro cell's
``index_1 op_1 index_2 op_2``). Parsing validates every position and names
the first bad one.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Sequence, Union


class ArchitectureError(ValueError):
  """An architecture string or token sequence does not fit its search space."""


@dataclasses.dataclass(frozen=True)
class Categorical:
  """A softmax decision over `choices` (Zoph & Le §3.1).

  Attributes:
    name: unique name within the space, e.g. ``"layer_3/filter_height"``.
    choices: the values the tokens stand for (shown in JSON; tokens are indices).
    kind: decisions of the same kind share softmax and embedding weights.
    creates_anchor: whether this step's LSTM output becomes an anchor.
    scope: the anchor scope it writes to (when `creates_anchor`).
    logit_bias: optional initial bias of the softmax (ENAS micro op bias).
    tanh_reduce: divides the controller's tanh constant for this decision
      (ENAS ``op_tanh_reduce``).
    learned_bias: whether the softmax has a learned bias (initialised to
      `logit_bias`, else zeros). The official ENAS macro and PTB controllers
      have none (``logits = h w_soft``); the micro controller has one.
    fixed_logit_bias: a constant added to the logits after the temperature
      and tanh shaping, never learned (the ENAS micro controller's
      ``b_soft_no_learn = [0.25, 0.25, -0.25, -0.25, -0.25]``, normal cell
      only); None = none.
  """

  name: str
  choices: tuple[Any, ...]
  kind: str = ""
  creates_anchor: bool = False
  scope: str = ""
  logit_bias: tuple[float, ...] | None = None
  tanh_reduce: float = 1.0
  learned_bias: bool = True
  fixed_logit_bias: tuple[float, ...] | None = None

  @property
  def num_tokens(self) -> int:
    return 1

  @property
  def share_key(self) -> str:
    return self.kind or self.name

  def check(self, tokens: Sequence[int]) -> tuple[int, str] | None:
    if not 0 <= tokens[0] < len(self.choices):
      return 0, f"expected a choice index in [0, {len(self.choices) - 1}]"
    return None


@dataclasses.dataclass(frozen=True)
class Skip:
  """Anchor-point skip connections (Zoph & Le §3.3).

  P(anchor j feeds this layer) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)).

  Attributes:
    name: unique name within the space.
    num_anchors: how many earlier anchors of `scope` it attends over (one
      token each); must equal the number of anchors created before it.
    kind: skip decisions of the same kind share attention weights.
    scope: the anchor scope it reads and writes.
    creates_anchor: this step's LSTM output becomes the next anchor.
    paired_logits: the ENAS macro form (ENAS §2.3; melodyguan/enas 4bcfd73
      ``general_controller.py``): the two-class logits ``[-q, q]`` are shaped
      (temperature, ``c * tanh``) and then softmaxed, so
      P(skip) = sigmoid(2 c tanh q). False = Zoph & Le's single logit,
      P(skip) = sigmoid(shaped q). Either way the skip penalty reads
      sigmoid(shaped q), as the official code does.
  """

  name: str
  num_anchors: int
  kind: str = "skip"
  scope: str = ""
  creates_anchor: bool = True
  paired_logits: bool = False

  @property
  def num_tokens(self) -> int:
    return self.num_anchors

  @property
  def share_key(self) -> str:
    return self.kind

  def check(self, tokens: Sequence[int]) -> tuple[int, str] | None:
    for offset, token in enumerate(tokens):
      if token not in (0, 1):
        return offset, f"expected a skip bit 0 or 1 (anchor {offset})"
    return None


@dataclasses.dataclass(frozen=True)
class Pick:
  """Attention that picks one earlier anchor (ENAS §2.2, §2.4).

  Attributes:
    name: unique name within the space.
    num_anchors: how many anchors of `scope` exist when it is sampled.
    kind: pick decisions of the same kind share attention weights.
    scope: the anchor scope it reads.
    distance_penalty: subtracts ``(i - j)^2 / distance_penalty`` from the
      logit of anchor j, i = num_anchors, after the temperature and tanh
      shaping (enas_lm and melodyguan/enas 4bcfd73: 6; its older commit
      00787a5: 12); 0 = off.
    creates_anchor: this step's LSTM output becomes an anchor (after the
      attention over the earlier ones: ENAS PTB takes node i's anchor at
      its pick step).
    input_scale_offset: the picked anchor's value, the next LSTM input, is
      divided by ``input_scale_offset + i - j`` (both official ENAS PTB
      controllers: 0.1); None = not scaled.
  """

  name: str
  num_anchors: int
  kind: str = "pick"
  scope: str = ""
  distance_penalty: float = 0.0
  creates_anchor: bool = False
  input_scale_offset: float | None = None

  @property
  def num_tokens(self) -> int:
    return 1

  @property
  def share_key(self) -> str:
    return self.kind

  def check(self, tokens: Sequence[int]) -> tuple[int, str] | None:
    if not 0 <= tokens[0] < self.num_anchors:
      return 0, f"expected an anchor index in [0, {self.num_anchors - 1}]"
    return None


@dataclasses.dataclass(frozen=True)
class AnchorStep:
  """An LSTM step that only creates an anchor (ENAS micro cell inputs).

  Attributes:
    name: unique name within the space.
    scope: the anchor scope it writes.
    zero_value: the anchor's value (the next input when it is picked) is
      zeros instead of the LSTM output; its attention key is still the output.
  """

  name: str
  scope: str = ""
  zero_value: bool = True
  creates_anchor: bool = True

  @property
  def num_tokens(self) -> int:
    return 0

  @property
  def share_key(self) -> str:
    return "anchor_step"

  def check(self, tokens: Sequence[int]) -> tuple[int, str] | None:
    del tokens
    return None


Decision = Union[Categorical, Skip, Pick, AnchorStep]

ENTROPY_FORMS = ("full", "sampled")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """A named, ordered tuple of decisions.

  Attributes:
    name: the space's name, e.g. ``"nas_cnn"`` or ``"enas_macro"``.
    decisions: in sampling order.
    string_order: optional permutation: position k of the text format holds
      token ``string_order[k]``; None = sampling order.
    metadata: free-form settings the builder needs (number of layers...).
    entropy_form: what the controller reports as a sample's entropy (the
      bonus REINFORCE adds to the reward): ``"full"``, the entropy of every
      distribution sampled from (the ENAS micro controller), or
      ``"sampled"``, the sampled token's ``-log p * p`` summed over
      decisions and skip bits (the ENAS macro and PTB controllers).
  """

  name: str
  decisions: tuple[Decision, ...]
  string_order: tuple[int, ...] | None = None
  metadata: tuple[tuple[str, Any], ...] = ()
  entropy_form: str = "full"

  def __post_init__(self):
    if self.entropy_form not in ENTROPY_FORMS:
      raise ValueError(f"{self.name}: entropy_form must be one of "
                       f"{ENTROPY_FORMS}, got {self.entropy_form!r}")
    names = [d.name for d in self.decisions]
    if len(set(names)) != len(names):
      raise ValueError(f"search space {self.name!r} repeats a decision name")
    anchors: dict[str, int] = {}
    for decision in self.decisions:
      if isinstance(decision, (Skip, Pick)):
        have = anchors.get(decision.scope, 0)
        if decision.num_anchors != have:
          raise ValueError(
              f"{decision.name}: num_anchors={decision.num_anchors} but "
              f"{have} anchors exist in scope {decision.scope!r}")
      if decision.creates_anchor:
        anchors[decision.scope] = anchors.get(decision.scope, 0) + 1
    if self.string_order is not None:
      if sorted(self.string_order) != list(range(self.num_tokens)):
        raise ValueError(f"{self.name}: string_order is not a permutation")

  @property
  def num_tokens(self) -> int:
    return sum(d.num_tokens for d in self.decisions)

  def meta(self, key: str, default: Any = None) -> Any:
    return dict(self.metadata).get(key, default)

  def token_slices(self) -> list[tuple[Decision, slice]]:
    """Each decision with the slice of the token sequence it emits."""
    out, start = [], 0
    for decision in self.decisions:
      out.append((decision, slice(start, start + decision.num_tokens)))
      start += decision.num_tokens
    return out

  def validate(self, tokens: Sequence[int]) -> tuple[int, ...]:
    """Checks a token sequence (sampling order); returns it as a tuple.

    Raises:
      ArchitectureError: naming the first bad position and decision.
    """
    tokens = tuple(int(t) for t in tokens)
    if len(tokens) != self.num_tokens:
      raise ArchitectureError(
          f"{self.name}: expected {self.num_tokens} integers, got {len(tokens)}")
    for decision, where in self.token_slices():
      problem = decision.check(tokens[where])
      if problem:
        offset, message = problem
        position = self._string_position(where.start + offset)
        raise ArchitectureError(
            f"{self.name}: bad value {tokens[where.start + offset]} at "
            f"position {position} ({decision.name}): {message}")
    return tokens

  def _string_position(self, token_index: int) -> int:
    if self.string_order is None:
      return token_index
    return self.string_order.index(token_index)

  def parse(self, text: str) -> "Architecture":
    """Parses the space-separated integer format (commas and newlines allowed)."""
    words = text.replace(",", " ").split()
    values = []
    for position, word in enumerate(words):
      try:
        values.append(int(word))
      except ValueError:
        raise ArchitectureError(
            f"{self.name}: position {position} is {word!r}, not an integer"
        ) from None
    if len(values) != self.num_tokens:
      raise ArchitectureError(
          f"{self.name}: expected {self.num_tokens} integers, got {len(values)}")
    if self.string_order is None:
      tokens = values
    else:
      tokens = [0] * len(values)
      for position, token_index in enumerate(self.string_order):
        tokens[token_index] = values[position]
    return Architecture(self, self.validate(tokens))

  def from_tokens(self, tokens: Sequence[int]) -> "Architecture":
    return Architecture(self, self.validate(tokens))


@dataclasses.dataclass(frozen=True)
class Architecture:
  """One point of a search space: its tokens in sampling order.

  Attributes:
    space: the search space.
    tokens: one integer per emitted token, in sampling order.
  """

  space: SearchSpace
  tokens: tuple[int, ...]

  def to_string(self) -> str:
    """The space-separated integer format (official ENAS order if any)."""
    order = self.space.string_order or range(len(self.tokens))
    return " ".join(str(self.tokens[i]) for i in order)

  def __str__(self) -> str:
    return self.to_string()

  def values(self) -> dict[str, Any]:
    """Decision name -> chosen value (choice value, skip bits or index)."""
    out: dict[str, Any] = {}
    for decision, where in self.space.token_slices():
      chunk = self.tokens[where]
      if isinstance(decision, Categorical):
        out[decision.name] = decision.choices[chunk[0]]
      elif isinstance(decision, Skip):
        out[decision.name] = list(chunk)
      elif isinstance(decision, Pick):
        out[decision.name] = chunk[0]
    return out

  def to_json(self) -> str:
    return json.dumps({"space": self.space.name, "arc": self.to_string(),
                       "decisions": self.values()}, sort_keys=True)

  def decisions(self):
    """Yields (decision, tokens) pairs in sampling order."""
    for decision, where in self.space.token_slices():
      yield decision, self.tokens[where]
