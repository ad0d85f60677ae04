"""The LSTM controller (Zoph & Le §3.1, §3.3; ENAS §2) and REINFORCE (§3.2)."""

import numpy as np
import pytest

from child.nas_cnn import space as nas_cnn_space
from controller import lstm_controller as lc
from controller import reinforce
from controller import search_space as ss
from controller import strategy


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


def test_the_baseline_is_a_moving_average_of_rewards():
  controller = lc.LSTMController(dag_space(), seed=0)
  learner = reinforce.Reinforce(
      controller, reinforce.ReinforceConfig(baseline_decay=0.5))
  samples = [controller.sample() for _ in range(2)]
  info = learner.update(samples, [1.0, 3.0])   # starts at the mean, 2.0
  assert info.baseline == pytest.approx(0.5 * (0.5 * 2.0 + 0.5 * 1.0) + 1.5)
  assert info.mean_advantage == pytest.approx(0.0)


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
