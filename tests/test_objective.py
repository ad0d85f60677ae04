"""Multi-objective search (MnasNet, Tan et al. 2019 §3) and the costs every family counts.

The reward ACC * (cost / target) ** w prefers the cheaper of two equally
accurate models; the hard constraint leaves models under the target alone.
Each family counts its cost analytically in its home; the counts match
the models: FLOPs (multiply-adds per image) against the products in the
traced forward graph of a Keras model, parameters against its weights.
"""

import gin
import numpy as np
import pytest
import tensorflow as tf

from child import latency as latency_lib
from child.nas_cnn import builder as nas_cnn_builder
from child.nas_cnn import cost as nas_cnn_cost
from child.nas_cnn import space as nas_cnn_space
from child.nas_cnn import trainer
from child.nas_tree_cell import cost as tree_cost
from child.nas_tree_cell import language_model
from child.nas_tree_cell import space as tree_space
from controller import errors
from controller import strategy as strategy_lib
from enas.macro import cost as macro_cost
from enas.macro import space as macro_space
from enas.macro.supergraph import MacroSupergraph
from enas.micro import cost as micro_cost
from enas.micro import space as micro_space
from enas.micro.supergraph import MicroSupergraph, SharedCell
from enas.recurrent import cost as rnn_cost
from enas.recurrent import final_training as rnn_final
from enas.recurrent import space as rnn_space
from runner import from_scratch
from runner import loop
from runner import objective as objective_lib
from runner import run_dir as run_dir_lib
from runner import tasks
import test_child_trainer


# ------------------------------------------------------------ the reward
def test_a_smaller_model_of_equal_accuracy_earns_more():
  objective = objective_lib.Objective(metric="params", target=1e6,
                                      alpha=-0.07, beta=-0.07)
  small = objective.apply({"status": "ok", "reward": 0.9, "params": 5e5})
  large = objective.apply({"status": "ok", "reward": 0.9, "params": 2e6})
  assert small["reward"] > 0.9 > large["reward"]
  assert small["score_reward"] == large["score_reward"] == 0.9
  assert large["reward"] == pytest.approx(0.9 * 2 ** -0.07)


def test_the_hard_constraint_penalizes_above_the_target_only():
  objective = objective_lib.Objective(metric="flops", target=100.0,
                                      alpha=0.0, beta=-1.0)
  reward = lambda flops: objective.apply(
      {"status": "ok", "reward": 0.8, "flops": flops})["reward"]
  assert reward(10) == reward(100) == 0.8
  assert reward(200) == pytest.approx(0.4)


def test_a_perplexity_reward_gets_the_same_factor():
  objective = objective_lib.Objective(metric="flops", target=1e3)
  record = objective.apply({"reward": 80 / 120.0, "valid_ppl": 120.0,
                            "flops": 4e3})
  assert record["reward"] == pytest.approx(80 / 120.0 * 4 ** -0.07)


def test_off_by_default_and_failed_children_keep_their_reward():
  record = {"status": "ok", "reward": 0.5, "params": 10}
  assert objective_lib.Objective().apply(record) is record
  failed = objective_lib.Objective(metric="params", target=1.0).apply(
      {"status": "failed", "reward": 0.0, "params": 0})
  assert failed["reward"] == 0.0


@pytest.mark.parametrize("settings", [dict(metric="size", target=1.0),
                                      dict(metric="params", target=None),
                                      dict(metric="flops", target=-3)])
def test_unusable_settings_are_config_errors(settings):
  with pytest.raises(errors.ConfigError):
    objective_lib.Objective(**settings)


def test_latency_is_unavailable_with_shared_weights():
  shared = type("Shared", (), {"phase": "shared_weights"})()
  with pytest.raises(errors.ConfigError, match="shared-weight"):
    objective_lib.Objective(metric="latency", target=0.1).check(shared)


def test_a_record_without_the_cost_is_a_config_error():
  with pytest.raises(errors.ConfigError, match="flops"):
    objective_lib.Objective(metric="flops", target=1.0).apply(
        {"status": "ok", "reward": 0.5, "params": 3})


class ParamsTask:
  """A stand-in child: equal accuracy for all, params = 10 + layer-0 filters."""

  def __init__(self):
    self.space = nas_cnn_space.nas_cnn_space(num_layers=2)

  def parse(self, text):
    return self.space.parse(text)

  def evaluate(self, arc, seed):
    del seed
    params = 10 + arc.values()["layer_0/num_filters"]
    return {"status": "ok", "reward": 0.5, "valid_accuracy": 0.5,
            "params": params, "flops": 100 * params, "seconds": 0.0,
            "error": ""}


def test_the_loop_rewards_and_picks_the_cheapest_of_equals(monkeypatch,
                                                           tmp_path):
  monkeypatch.setattr(tasks, "make_task", ParamsTask)
  gin.clear_config()
  evaluator = from_scratch.FromScratch("")
  strategy = strategy_lib.RandomSearch(evaluator.space, seed=0)
  objective = objective_lib.Objective(metric="params", target=40)
  best = loop.run_search(run_dir_lib.RunDir(str(tmp_path)), strategy,
                         evaluator, loop.SearchBudget(rounds=2,
                                                      samples_per_update=4),
                         seed=0, log=lambda _: None, objective=objective)
  records = run_dir_lib.RunDir(str(tmp_path)).children()
  assert all(r["score_reward"] == 0.5 for r in records)
  assert all(r["reward"] == pytest.approx(
      0.5 * (r["params"] / 40) ** -0.07) for r in records)
  assert best["params"] == min(r["params"] for r in records)
  assert best["flops"] == 100 * best["params"] and best["score_reward"] == 0.5


# ------------------------------------------------------------ the costs
_PRODUCTS = {"Conv2D", "DepthwiseConv2dNative", "MatMul"}


def graph_multiply_adds(fn, *input_shapes) -> int:
  """Multiply-adds of the products feeding fn's output, for one example.

  Traces ``fn`` on batches of one and walks back from its outputs through
  the graph, so ops whose results nothing reads (e.g. a reduction of a node
  no later layer uses) do not count.
  """
  graph = tf.function(fn, autograph=False).get_concrete_function(
      *[tf.TensorSpec([1, *shape], tf.float32) for shape in input_shapes]).graph
  seen, stack, total = set(), [t.op for t in graph.outputs], 0
  while stack:
    op = stack.pop()
    if op.name in seen:
      continue
    seen.add(op.name)
    stack += [t.op for t in op.inputs]
    if op.type not in _PRODUCTS:
      continue
    out = int(np.prod(op.outputs[0].shape.as_list()))
    weights = op.inputs[1].shape.as_list()
    if op.type == "MatMul":  # [1, k] x [k, n]
      total += out * weights[0]
    elif op.type == "Conv2D":
      total += out * weights[0] * weights[1] * weights[2]
    else:  # depthwise: each output channel reads one input channel
      total += out * weights[0] * weights[1]
  return total


def test_nas_cnn_counts_match_its_keras_model():
  # Layer 1 strides and pools, layer 2 joins maps of two sizes (padding),
  # layer 0 dangles into the classifier.
  layers = [nas_cnn_builder.ConvLayer(3, 5, 6),
            nas_cnn_builder.ConvLayer(3, 3, 4, stride=2, kind="max_pool",
                                      inputs=(0,)),
            nas_cnn_builder.ConvLayer(1, 3, 5, stride=2, inputs=(1,)),
            nas_cnn_builder.ConvLayer(3, 1, 7, inputs=(1, 2))]
  model = nas_cnn_builder.build_cnn(layers, (9, 7, 2), 3)
  counted = nas_cnn_cost.layers_cost(layers, (9, 7, 2), 3)
  assert counted["params"] == nas_cnn_builder.count_params(model)
  assert counted["flops"] == graph_multiply_adds(
      lambda x: model(x, training=False), (9, 7, 2))


def test_a_micro_cell_counts_match_the_cell_it_builds():
  # Inputs of two sizes (calibrated by a factorized reduction), a width to
  # calibrate, both sep convs, a pool, an identity; loose ends 1 and 4.
  cell = micro_space.MicroCell(nodes=(
      micro_space.MicroNode(index_1=0, op_1=0, index_2=0, op_2=2),
      micro_space.MicroNode(index_1=2, op_1=1, index_2=0, op_2=4),
      micro_space.MicroNode(index_1=3, op_1=0, index_2=2, op_2=3)))
  assert cell.loose_ends == (1, 4)
  shapes, filters = [(8, 8, 3), (4, 4, 5)], 6
  layer = SharedCell(shapes, filters, num_nodes=3, num_ops=5)
  arc = [(n.index_1, n.op_1, n.index_2, n.op_2) for n in cell.nodes]
  params, flops = micro_cost.cell_cost(cell, shapes, filters)
  assert flops == graph_multiply_adds(
      lambda a, b: layer([a, b], cell_arc=arc), *shapes)
  # The weights used: the calibrations, one table row per sep conv use (two
  # 3x3, one 5x5), the loose ends' rows of the output kernel, its BN.
  size = lambda v: int(np.prod(v.shape))
  rows = [size(table.table) // table.num_weight_sets for table in layer.convs]
  assert params == (sum(size(v) for cal in layer.calibrate
                        for v in cal.trainable_weights)
                    + 2 * rows[0] + rows[1]
                    + 2 * filters * filters + 2 * filters)


def test_a_macro_path_counts_match_the_weights_and_products_it_uses():
  space = macro_space.macro_space(num_layers=6)
  model = MacroSupergraph(space, input_shape=(8, 8, 1), num_classes=3,
                          out_filters=4)
  # Every op; reductions after layers 1 and 3. At the second, nodes 0, 2
  # and 3 are read by no later layer: their reductions are not the path's.
  arc = space.from_tokens([0, 1, 1, 2, 0, 0, 3, 1, 0, 0, 4, 0, 0, 0, 0,
                           5, 0, 1, 0, 0, 0])
  counted = macro_cost.supergraph_cost(arc, model)
  assert counted["params"] == model.fixed_train_step(arc).num_child_params
  assert counted["flops"] == graph_multiply_adds(
      lambda x: model.logits(x, arc, static=True), (8, 8, 1))


@pytest.mark.parametrize("cell, tie", [("lstm", False), ("tree", True)])
def test_language_model_parameters_match_the_model(cell, tie):
  what = "lstm" if cell == "lstm" else tree_space.paper_nas_cell_spec()
  model = language_model.build_language_model(
      language_model.make_cell_factory(what), 11, 4, 6, 2, tie_weights=tie)
  counted = tree_cost.cost(what, vocab_size=11, embedding_size=4,
                           hidden_size=6, num_layers=2, tie_weights=tie)
  assert counted["params"] == sum(int(np.prod(v.shape))
                                  for v in model.trainable_variables)


def test_a_micro_path_flops_match_the_products_of_its_forward_pass():
  space = micro_space.micro_space(num_nodes=2)
  model = MicroSupergraph(space, input_shape=(8, 8, 1), num_classes=3,
                          num_layers=1, out_filters=4, aux_weight=0.0)
  # Normal: node 2 = sep5(0) + avg(1), node 3 = id(2) + sep3(2); reduction:
  # node 2 = max(1) + sep3(0), node 3 = sep5(1) + id(1).
  arc = space.from_tokens([0, 1, 1, 2, 2, 2, 4, 0,
                           1, 0, 3, 0, 1, 1, 1, 4])
  assert micro_cost.supergraph_cost(arc, model)["flops"] == (
      graph_multiply_adds(lambda x: model.logits(x, arc, static=True),
                          (8, 8, 1)))


# ------------------------------------------------------------ latency
def test_latency_is_the_median_of_timed_runs_after_a_warm_up():
  calls = []
  seconds = latency_lib.median_seconds(lambda: calls.append(1), runs=3)
  assert len(calls) == 4 and seconds >= 0.0


def test_latency_needs_children_told_to_time_themselves():
  objective = objective_lib.Objective(metric="latency", target=0.01)
  gin.clear_config()
  with pytest.raises(errors.ConfigError, match="LatencyConfig.runs"):
    objective.check(from_scratch.FromScratch)
  gin.parse_config("LatencyConfig.runs = 2")
  try:
    objective.check(from_scratch.FromScratch)
  finally:
    gin.clear_config()


def test_a_nas_child_times_its_forward_pass_when_asked():
  data = test_child_trainer.tiny_dataset(num_train=32, num_valid=8)
  config = trainer.ChildTrainerConfig(epochs=1, batch_size=32)
  record = trainer.train_child(
      test_child_trainer.LAYERS, data, config, seed=0,
      latency=latency_lib.LatencyConfig(runs=2, batch_size=4)).to_record()
  assert record["status"] == "ok" and record["latency"] > 0
  assert record["flops"] == nas_cnn_cost.layers_cost(
      test_child_trainer.LAYERS, (8, 8, 1), 4)["flops"]


@pytest.mark.parametrize("cell", [rnn_space.PAPER_FINAL_CELL, "lstm"])
def test_an_enas_recurrent_cell_counts_the_weights_of_its_model(cell):
  decoded = cell if cell == "lstm" else rnn_space.decode_rnn(cell)
  model = rnn_final.FinalRnnLM(decoded, vocab_size=7, hidden_size=3)
  counted = rnn_cost.search_cost(decoded, vocab_size=7, hidden_size=3)
  assert counted["params"] == model.num_params
  assert counted == rnn_cost.search_cost(cell, vocab_size=7, hidden_size=3)
