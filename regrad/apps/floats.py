"""A trained model's forward pass on plain floats, with no graph: for the
accuracy and the pictures' decision boundary, where no gradient is needed."""


def weights(model):
    """The model's numbers: per layer, a list of (weights, bias, nonlinear)."""
    return [[([w.val for w in n.w], n.b.val, n.is_nonlinear) for n in layer.neurons]
            for layer in model.layers]


def predict(model, points):
    """The model's scores at ``points`` computed on plain floats (no graph).

    Same operations in the same order as ``model(x).val``, so the same bits;
    much faster when no gradient is needed."""
    layers = weights(model)
    scores = []
    for h in points:
        for layer in layers:
            out = []
            for w, b, nonlinear in layer:
                a = b
                for wi, xi in zip(w, h):
                    a = a + wi * xi
                if nonlinear and a <= 0.0:
                    a = 0.0
                out.append(a)
            h = out
        scores.append(h[0])
    return scores
