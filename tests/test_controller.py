"""The LSTM controller (Zoph & Le §3.1, §3.3; ENAS §2) and REINFORCE (§3.2)."""

import numpy as np
import pytest

from child.nas_cnn import space as nas_cnn_space
from controller import lstm_controller as lc
from controller import reinforce
from controller import search_space as ss
from controller import strategy
from enas.macro import space as macro_space_lib
from enas.micro import space as micro_space_lib
from enas.recurrent import space as rnn_space_lib


def enas_like_cell_space():
  decisions = [ss.AnchorStep("in_0"), ss.AnchorStep("in_1")]
  for node in range(2, 5):
    decisions += [
        ss.Pick(f"n{node}/i1", node), ss.Pick(f"n{node}/i2", node),
        ss.Categorical(f"n{node}/o1", tuple(range(5)), kind="op",
                       logit_bias=(10., 10., 0., 0., 0.), tanh_reduce=2.5),
        ss.Categorical(f"n{node}/o2", tuple(range(5)), kind="op",
                       logit_bias=(10., 10., 0., 0., 0.), tanh_reduce=2.5),
        ss.AnchorStep(f"n{node}/out", zero_value=False)]
  return ss.SearchSpace("cell", tuple(decisions))


def dag_space():
  decisions = [ss.Categorical("n0/act", tuple(range(4)), kind="act",
                              creates_anchor=True)]
  for node in range(1, 6):
    decisions += [ss.Pick(f"n{node}/prev", node, distance_penalty=6.0),
                  ss.Categorical(f"n{node}/act", tuple(range(4)), kind="act",
                                 creates_anchor=True)]
  return ss.SearchSpace("dag", tuple(decisions))


SPACES = {
    "nas_cnn": lambda: nas_cnn_space.nas_cnn_space(num_layers=6),
    "nas_cnn_strides_pooling": lambda: nas_cnn_space.nas_cnn_space(
        num_layers=5, strides=(1, 2, 3), pooling=True),
    "cell": enas_like_cell_space,
    "dag": dag_space,
    "enas_macro": lambda: macro_space_lib.macro_space(num_layers=4),
    "enas_micro": lambda: micro_space_lib.micro_space(num_nodes=2),
    "enas_rnn": lambda: rnn_space_lib.rnn_cell_space(4),
}
CONFIGS = {
    "zoph": lc.ControllerConfig(),
    "enas": lc.ControllerConfig(lstm_size=16, lstm_num_layers=1,
                                temperature=5.0, tanh_constant=2.5),
}


@pytest.mark.parametrize("space_name", sorted(SPACES))
def test_every_sampled_arc_is_valid_for_its_space(space_name):
  space = SPACES[space_name]()
  controller = lc.LSTMController(space, seed=3)
  for _ in range(30):
    arc = controller.sample().arc
    assert space.validate(arc.tokens) == arc.tokens
    assert space.parse(arc.to_string()) == arc


@pytest.mark.parametrize("space_name", sorted(SPACES))
@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_log_prob_of_a_sampled_arc_equals_the_sampled_log_prob(
    space_name, config_name):
  controller = lc.LSTMController(SPACES[space_name](), CONFIGS[config_name],
                                 seed=1)
  samples = [controller.sample() for _ in range(6)]
  scored = controller.log_prob_batch([s.arc for s in samples])
  np.testing.assert_allclose(scored, [s.log_prob for s in samples],
                             rtol=1e-4, atol=1e-4)
  assert all(s.log_prob < 0 and s.entropy > 0 for s in samples)


def test_sampling_is_deterministic_given_the_seed():
  space = SPACES["nas_cnn"]()
  first = [lc.LSTMController(space, seed=7).sample().arc for _ in range(1)]
  again = [lc.LSTMController(space, seed=7).sample().arc for _ in range(1)]
  assert first == again


def test_the_micro_op_bias_favours_the_first_two_ops_at_start():
  controller = lc.LSTMController(enas_like_cell_space(), seed=0)
  ops = []
  for _ in range(20):
    values = controller.sample().arc.values()
    ops += [v for k, v in values.items() if "/o" in k]
  assert np.mean([op in (0, 1) for op in ops]) > 0.9


def _reinforce_toward(sign):
  """Rewards the fraction of tokens a sample shares with a fixed target.

  A two-layer space keeps the per-token signal strong (in a long sequence a
  noisy update can lock a token onto a wrong choice before its signal wins).
  """
  space = nas_cnn_space.nas_cnn_space(num_layers=2)
  target = lc.LSTMController(space, seed=99).sample().arc
  controller = lc.LSTMController(space, seed=0)
  learner = reinforce.Reinforce(
      controller, reinforce.ReinforceConfig(learning_rate=0.01))
  before = controller.log_prob(target)
  for _ in range(30):
    samples = [controller.sample() for _ in range(8)]
    # Reward: fraction of the target's tokens each sample matches.
    rewards = [sign * np.mean(np.equal(s.arc.tokens, target.tokens))
               for s in samples]
    learner.update(samples, rewards)
  return before, controller.log_prob(target)


def test_reinforce_raises_the_probability_of_the_rewarded_architecture():
  before, after = _reinforce_toward(sign=+1.0)
  assert after > before + 4.0   # measured: -9.0 -> about -3


def test_reinforce_with_the_reward_negated_lowers_it():
  before, after = _reinforce_toward(sign=-1.0)
  assert after < before - 4.0


def test_the_official_baseline_starts_at_zero_and_each_advantage_reads_it_moved():
  # ENAS build_trainer: b <- b - (1 - decay)(b - R) per sample, then R - b.
  controller = lc.LSTMController(dag_space(), seed=0)
  learner = reinforce.Reinforce(controller, reinforce.ReinforceConfig(
      baseline_decay=0.5, baseline_init="zero", advantage_baseline="updated"))
  samples = [controller.sample() for _ in range(2)]
  info = learner.update(samples, [1.0, 3.0])
  # b: 0 -> 0.5 (advantage 0.5) -> 1.75 (advantage 1.25).
  assert info.baseline == pytest.approx(1.75)
  assert info.mean_advantage == pytest.approx((0.5 + 1.25) / 2)


def test_the_project_baseline_starts_at_the_first_mean_and_lags_a_batch():
  controller = lc.LSTMController(dag_space(), seed=0)
  learner = reinforce.Reinforce(controller, reinforce.ReinforceConfig(
      baseline_decay=0.5, baseline_init="first_mean",
      advantage_baseline="previous"))
  samples = [controller.sample() for _ in range(2)]
  info = learner.update(samples, [1.0, 3.0])   # starts at the mean, 2.0
  assert info.baseline == pytest.approx(0.5 * (0.5 * 2.0 + 0.5 * 1.0) + 1.5)
  assert info.mean_advantage == pytest.approx(0.0)


def test_the_enas_search_gin_files_set_the_official_baseline():
  for name in ("cifar10_macro_search", "cifar10_micro_search", "ptb_search"):
    text = open(f"gin/enas/{name}.gin").read()
    assert "make_strategy.baseline_init = 'zero'" in text
    assert "make_strategy.advantage_baseline = 'updated'" in text


def _one_skip_logit_odds(paired):
  """log P(skip) - log P(no skip) of a 2-layer macro space's one skip bit,
  with the attention's v scaled up so that tanh(q) saturates."""
  space = macro_space_lib.macro_space(num_layers=2)
  controller = lc.LSTMController(space, lc.ControllerConfig(
      lstm_size=16, lstm_num_layers=1, tanh_constant=1.5,
      paired_skip_logits=paired), seed=0)
  v = controller.attention["skip"][2]
  v.assign(v * 1e6)
  on, off = controller.log_prob_batch(
      [space.from_tokens((0, 0, 1)), space.from_tokens((0, 0, 0))])
  return abs(on - off)


def test_a_macro_skip_probability_reaches_0_95_at_tanh_constant_1_5():
  # general_controller.py: softmax(1.5 tanh [-q, q]) = sigmoid(3 tanh q).
  odds = _one_skip_logit_odds(paired=True)
  assert odds == pytest.approx(3.0, abs=1e-3)
  assert 1 / (1 + np.exp(-odds)) > 0.95


def test_the_single_logit_skip_form_stops_at_0_82_under_its_option():
  odds = _one_skip_logit_odds(paired=False)        # sigmoid(1.5 tanh q)
  assert odds == pytest.approx(1.5, abs=1e-3)
  assert 1 / (1 + np.exp(-odds)) < 0.82


def test_the_skip_penalty_reads_the_undoubled_probability():
  space = macro_space_lib.macro_space(num_layers=2)
  controller = lc.LSTMController(space, lc.ControllerConfig(
      lstm_size=16, lstm_num_layers=1, tanh_constant=1.5), seed=0)
  tokens = (0, 0, 1)
  _, _, skip_probs = controller.forward_batch(np.array([tokens], np.int32))
  p = float(skip_probs[0][0, 0])
  on, off = controller.log_prob_batch(
      [space.from_tokens(tokens), space.from_tokens((0, 0, 0))])
  # Sampling odds are twice the penalty's: sigmoid(2a) against sigmoid(a).
  assert on - off == pytest.approx(2 * np.log(p / (1 - p)), abs=1e-4)


def _kl(p, target):
  return p * np.log(p / target) + (1 - p) * np.log((1 - p) / (1 - target))


@pytest.mark.parametrize("reduce, layers", [("mean", 2), ("sum", 1)])
def test_the_skip_penalty_is_a_per_layer_mean(reduce, layers):
  # Layer 1 has one anchor, layer 2 two: the KLs are summed within a layer,
  # then averaged over layers (official); "sum" is the pre-issue-12 option.
  controller = lc.LSTMController(dag_space(), seed=0)
  learner = reinforce.Reinforce(controller, reinforce.ReinforceConfig(
      skip_target=0.4, skip_penalty_reduce=reduce))
  probs = [np.array([[0.5]], np.float32), np.array([[0.5, 0.9]], np.float32)]
  per_layer = [_kl(0.5, 0.4), _kl(0.5, 0.4) + _kl(0.9, 0.4)]
  assert float(learner.skip_penalty(probs)) == pytest.approx(
      sum(per_layer) / layers, rel=1e-5)


def test_the_recurrent_controller_scales_the_picked_input_by_distance():
  # enas_lm: two LSTM steps per node; node i's anchor is its pick step's
  # output; the picked node j's anchor, the next input, is over 0.1 + i - j.
  space = rnn_space_lib.rnn_cell_space(6)
  controller = lc.LSTMController(space, CONFIGS["enas"], seed=4)
  steps = []
  lstm = controller._lstm

  def recording(ops, params, x, state):
    out, state = lstm(ops, params, x, state)
    steps.append((np.array(x), np.array(out)))
    return out, state

  controller._lstm = recording
  cell = rnn_space_lib.decode_rnn(controller.sample().arc)
  assert len(steps) == 2 * 6
  anchor = {0: steps[0][1]}
  anchor.update({i: steps[2 * i][1] for i in range(1, 6)})
  for i in range(1, 6):
    j = cell.prev[i]
    np.testing.assert_allclose(steps[2 * i + 1][0], anchor[j] / (0.1 + i - j),
                               rtol=1e-5)


def _zero_weights(controller):
  for var in controller.variables:
    var.assign(np.zeros(var.shape, np.float32))
  controller.invalidate_cache()


def test_the_micro_normal_cell_gets_the_fixed_unlearned_op_bias():
  # micro_controller.py: b_soft_no_learn = [.25, .25, -.25, -.25, -.25] is
  # added after the tanh, for the normal cell only, and is not a variable.
  space = micro_space_lib.micro_space(num_nodes=1)
  controller = lc.LSTMController(space, lc.ControllerConfig(
      lstm_size=16, lstm_num_layers=1, tanh_constant=1.1), seed=0)
  _zero_weights(controller)   # every learned logit is 0: only the bias shows
  # Sampling order per cell: index_1 index_2 op_1 op_2.
  base = [0, 0, 0, 0, 0, 0, 0, 0]
  def with_token(where, value):
    tokens = list(base)
    tokens[where] = value
    return space.from_tokens(tokens)
  normal_0, normal_2, reduce_0, reduce_2 = controller.log_prob_batch(
      [with_token(2, 0), with_token(2, 2), with_token(6, 0), with_token(6, 2)])
  assert normal_0 - normal_2 == pytest.approx(0.5, abs=1e-5)
  assert reduce_0 - reduce_2 == pytest.approx(0.0, abs=1e-5)
  assert not any(np.allclose(np.abs(v.numpy()), 0.25)
                 for v in controller.trainable_variables if v.shape[-1] == 5)


def _uniform_entropy(space, **config):
  controller = lc.LSTMController(space, lc.ControllerConfig(
      lstm_size=16, lstm_num_layers=1, **config), seed=0)
  _zero_weights(controller)
  return controller.sample().entropy


def test_the_entropy_bonus_has_each_spaces_official_form():
  # Macro and PTB: the sampled token's -log p * p (per skip bit too);
  # micro: the full entropy of every softmax. All logits 0 here.
  macro = macro_space_lib.macro_space(num_layers=2)   # 2 ops of 6, 1 skip bit
  assert _uniform_entropy(macro) == pytest.approx(
      2 * np.log(6) / 6 + 0.5 * np.log(2), rel=1e-5)
  rnn = rnn_space_lib.rnn_cell_space(2)   # 2 activations of 4, a pick of 1
  assert _uniform_entropy(rnn) == pytest.approx(2 * np.log(4) / 4, rel=1e-5)
  micro = micro_space_lib.micro_space(num_nodes=1)
  fixed = np.array(micro_space_lib.MICRO_OP_FIXED_BIAS)
  p = np.exp(fixed) / np.exp(fixed).sum()
  full_fixed = -(p * np.log(p)).sum()
  assert _uniform_entropy(micro) == pytest.approx(
      4 * np.log(2) + 2 * full_fixed + 2 * np.log(5), rel=1e-5)


def test_the_full_entropy_form_stays_available_as_an_option():
  macro = macro_space_lib.macro_space(num_layers=2)
  assert _uniform_entropy(macro, entropy_form="full") == pytest.approx(
      2 * np.log(6) + np.log(2), rel=1e-5)


def test_the_skip_penalty_pulls_skip_probability_toward_its_target():
  space = SPACES["nas_cnn"]()
  controller = lc.LSTMController(space, seed=0)
  learner = reinforce.Reinforce(controller, reinforce.ReinforceConfig(
      learning_rate=0.02, skip_target=0.1, skip_weight=1.0))

  def skip_rate():
    bits = [b for _ in range(30)
            for k, v in controller.sample().arc.values().items()
            if k.endswith("inputs") for b in v]
    return np.mean(bits)

  start = skip_rate()
  for _ in range(30):
    samples = [controller.sample() for _ in range(4)]
    learner.update(samples, [0.5] * 4)  # zero advantage: only the penalty acts
  assert start > 0.3 and skip_rate() < start - 0.15


def test_strategy_state_restores_sampling_exactly():
  space = SPACES["nas_cnn"]()
  first = strategy.make_strategy(space, seed=5)
  samples = first.ask(4)
  first.tell(samples, [0.1, 0.2, 0.3, 0.4])
  saved = first.state()
  expected = [s.arc for s in first.ask(3)]
  second = strategy.make_strategy(space, seed=123)
  second.load_state(saved)
  assert [s.arc for s in second.ask(3)] == expected


def test_random_search_samples_valid_architectures():
  space = SPACES["nas_cnn_strides_pooling"]()
  search = strategy.make_strategy(space, seed=0, kind="random")
  for sample in search.ask(20):
    assert space.validate(sample.arc.tokens) == sample.arc.tokens


def test_the_distance_penalty_is_subtracted_after_temperature_and_tanh():
  # enas_lm: logits = 2.5 * tanh(scores / 5) - (i - j)^2 / 6. The shaped part
  # lies in [-2.5, 2.5], so picking the farthest of 12 anchors instead of the
  # nearest costs at least (12^2 - 1^2) / 6 - 5 = 18.8 nats; a penalty added
  # before the tanh would be squashed into the same [-2.5, 2.5].
  decisions = [ss.Categorical(f"n{i}", (0, 1), kind="act", creates_anchor=True)
               for i in range(12)]
  decisions.append(ss.Pick("pick", 12, distance_penalty=6.0))
  space = ss.SearchSpace("picks", tuple(decisions))
  controller = lc.LSTMController(space, lc.ControllerConfig(
      lstm_size=16, lstm_num_layers=1, temperature=5.0, tanh_constant=2.5),
      seed=0)
  farthest, nearest = controller.log_prob_batch(
      [space.from_tokens((0,) * 12 + (0,)), space.from_tokens((0,) * 12 + (11,))])
  assert farthest - nearest <= 5.0 - (144 - 1) / 6


def test_a_deeper_space_keeps_the_weights_and_scores_its_own_samples():
  # Zoph & Le's depth schedule: the same controller samples deeper children.
  shallow = nas_cnn_space.nas_cnn_space(num_layers=2)
  deep = nas_cnn_space.nas_cnn_space(num_layers=4)
  grown = strategy.make_strategy(shallow, seed=0)
  grown.tell(grown.ask(4), [0.1, 0.2, 0.3, 0.4])
  weights = [v.numpy().copy() for v in grown.controller.variables]
  grown.set_space(deep)
  samples = grown.ask(3)
  assert all(s.arc.space is deep for s in samples)
  for s in samples:
    assert grown.controller.log_prob(s.arc) == pytest.approx(s.log_prob,
                                                             abs=1e-4)
  for before, var in zip(weights, grown.controller.variables):
    np.testing.assert_array_equal(before, var.numpy())
  grown.tell(samples, [0.3, 0.1, 0.2])  # the update works at the new depth


def test_a_space_with_decisions_the_controller_lacks_is_refused():
  controller = lc.LSTMController(nas_cnn_space.nas_cnn_space(num_layers=2))
  wider = nas_cnn_space.nas_cnn_space(num_layers=2, num_filters=(8, 16, 32))
  with pytest.raises(ValueError, match="no softmax of 3 choices"):
    controller.set_space(wider)
