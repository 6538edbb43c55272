"""Keep layers of a Q/DQ model truly float: their inputs rewired to the float tensors and weights.

ONNX Runtime's `nodes_to_exclude` leaves an excluded node's weights float but not its input activation: that
tensor's Q/DQ belongs to the node that produced it, so the "float" layer still reads 8-bit data. Measured on
the demo model (tensorrt flavour, 8 held-out images, OpenVINO): with the first MobileNet block's conv excluded
the output's mean relative deviation from float went 0.035 → 0.033; rewired to its float input as well,
0.028. So the ort engine passes every model it writes with layers kept float through `with_float_layers`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..onnx_graph import QDQ_OPS

#: Activations ONNX Runtime's QDQ quantizer removes after a quantized op (qdq_quantizer: "removable
#: activations"), whose clamp the UINT8 range then stands for.
REMOVABLE_ACTIVATIONS = ("Relu", "Clip")


def with_float_layers(int8_model, float_model, layers: Sequence[str]):
    """A copy of the Q/DQ `int8_model` in which `layers` read the float tensors and weights they read in
    `float_model` (the quantizer keeps node and tensor names), with the Q/DQ nodes left unread removed."""
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(int8_model)
    wanted = set(layers)
    source_inputs = {node.name: list(node.input) for node in float_model.graph.node if node.name in wanted}
    float_weights = {init.name: init for init in float_model.graph.initializer}
    initializers = {init.name for init in model.graph.initializer}
    produced = {out for node in model.graph.node for out in node.output}  # the quantizer may reuse a bias's name

    def float_weight(name: str) -> str:
        if name in initializers:
            return name
        renamed = f"{name}.float" if name in produced else name
        if renamed not in initializers:
            weight = onnx.TensorProto()
            weight.CopyFrom(float_weights[name])
            weight.name = renamed
            model.graph.initializer.append(weight)
            initializers.add(renamed)
        return renamed

    float_producers = {out: node for node in float_model.graph.node for out in node.output}
    present = {node.name for node in model.graph.node}
    restored: dict[str, str] = {}

    def float_activation(name: str) -> str:
        """The float tensor `name` as the float model computes it. ONNX Runtime folds a Relu or Clip after a
        quantized op into the range of its Q/DQ (UINT8 clamps at 0) and gives the op the activation's output
        name: read unquantized, that tensor is the op's output before the activation, so the activation is
        put back for the float layer (measured on the demo model: kept float, an SE block's Mul and the conv
        after it took the Relu's input negative, and the output's deviation from float went 3 % → 54 %)."""
        producer = float_producers.get(name)
        if producer is None or producer.name in present or producer.op_type not in REMOVABLE_ACTIVATIONS:
            return name
        if name not in restored:
            activation = onnx.NodeProto()
            activation.CopyFrom(producer)
            activation.name, restored[name] = f"{producer.name}.float", f"{name}.float"
            activation.input[0] = name
            del activation.output[:]
            activation.output.append(restored[name])
            model.graph.node.append(activation)
        return restored[name]

    for node in model.graph.node:
        if node.name in source_inputs:
            del node.input[:]
            node.input.extend(float_weight(name) if name in float_weights else float_activation(name)
                              for name in source_inputs[node.name])
    _remove_unread_qdq(model.graph)
    return _topologically_sorted(model) if restored else model


def _remove_unread_qdq(graph) -> None:
    """Drop Q/DQ nodes whose outputs nothing reads (repeatedly: a Q feeds only its DQ), then unread initializers."""
    outputs = {value.name for value in graph.output}
    while True:
        read = {name for node in graph.node for name in node.input} | outputs
        unread = [node for node in graph.node if node.op_type in QDQ_OPS and not read.intersection(node.output)]
        if not unread:
            break
        for node in unread:
            graph.node.remove(node)
    read = {name for node in graph.node for name in node.input}
    for init in [init for init in graph.initializer if init.name not in read]:
        graph.initializer.remove(init)


def _topologically_sorted(model):
    """The graph's nodes in an order where each reads only tensors made before it (a restored activation was
    appended at the end; ONNX requires the order)."""
    import onnx

    graph = model.graph
    made = {value.name for value in graph.input} | {init.name for init in graph.initializer} | {""}
    pending, order = list(range(len(graph.node))), []
    while pending:
        ready = [i for i in pending if all(name in made for name in graph.node[i].input)]
        if not ready:
            raise RuntimeError("with_float_layers left a graph with a cycle or a dangling tensor")
        for i in ready:
            made.update(graph.node[i].output)
        order += ready
        done = set(ready)
        pending = [i for i in pending if i not in done]
    nodes = [onnx.NodeProto.FromString(graph.node[i].SerializeToString()) for i in order]
    del graph.node[:]
    graph.node.extend(nodes)
    return model
