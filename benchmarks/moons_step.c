/* The moons step written by hand in C: the report's "hand-written C" row
 * (regrad/apps/bench.py builds this file at run time when a C compiler is
 * there), the distance from regrad's lanes to a plain loop.
 *
 * The same model, data, loss and update as regrad.apps.moons.step: an MLP
 * with relu hidden layers and a linear output, the hinge loss
 * relu(1 - y*score) averaged over the points plus alpha * sum(p*p), and
 * p -= lr * grad. It obeys regrad's bit rules: each neuron's sum in the
 * order b + w0*x0 + w1*x1 + ..., every sum over the points in point order,
 * and no FMA (build with -ffp-contract=off). The loops run layer by layer
 * over all the points, the points contiguous so that the compiler vectorizes
 * the loops over them.
 *
 * Parameters: per layer, per neuron, its weights then its bias (the order of
 * regrad.nn's parameters()). Work space: moons_work_size(...) doubles.
 */
#include <stddef.h>

/* the largest layer */
static int widest(int n_layers, const int* sizes)
{
    int l, m = 0;
    for (l = 0; l <= n_layers; l++)
        if (sizes[l] > m)
            m = sizes[l];
    return m;
}

/* sizes[0] inputs, sizes[1..n_layers] neurons per layer (the last one 1) */
size_t moons_work_size(int n, int n_layers, const int* sizes)
{
    size_t units = 0;
    int l;
    for (l = 0; l <= n_layers; l++)
        units += (size_t)sizes[l];
    /* every layer's values, two rows of adjoints, the gradients */
    return units * (size_t)n + 2 * (size_t)widest(n_layers, sizes) * (size_t)n + 4096;
}

/* One step on n points X (n rows of sizes[0] values) with labels y (-1/+1);
 * returns the loss before the update and puts the number of points whose
 * score has the sign of their label in *correct. */
double moons_step(int n, const double* X, const double* y, int n_layers, const int* sizes,
                  double* params, double lr, double alpha, double* work, int* correct)
{
    int l, i, j, p, base;
    double* h[64];                        /* h[l][i * n + p]: unit i of layer l at point p */
    double *ga, *gb, *grads = work;
    const double* W;
    double total = 0.0, penalty = 0.0, inv_n = 1.0 / n;
    int n_params = 0, hits = 0;

    for (l = 0; l < n_layers; l++)
        n_params += sizes[l + 1] * (sizes[l] + 1);
    h[0] = grads + n_params;
    for (l = 0; l < n_layers; l++)
        h[l + 1] = h[l] + (size_t)sizes[l] * n;
    ga = h[n_layers] + (size_t)sizes[n_layers] * n;
    gb = ga + (size_t)widest(n_layers, sizes) * n;
    for (p = 0; p < n; p++)
        for (i = 0; i < sizes[0]; i++)
            h[0][i * n + p] = X[p * sizes[0] + i];

    /* forward, layer by layer over all the points */
    W = params;
    for (l = 0; l < n_layers; l++) {
        int fan_in = sizes[l], last = l == n_layers - 1;
        for (j = 0; j < sizes[l + 1]; j++) {
            const double* w = W + j * (fan_in + 1);
            double b = w[fan_in];
            double* z = h[l + 1] + (size_t)j * n;
            for (p = 0; p < n; p++)
                z[p] = b;
            for (i = 0; i < fan_in; i++) {
                const double* x = h[l] + (size_t)i * n;
                double wi = w[i];
                for (p = 0; p < n; p++)
                    z[p] = z[p] + wi * x[p];
            }
            if (!last)
                for (p = 0; p < n; p++)
                    z[p] = z[p] > 0.0 ? z[p] : 0.0;
        }
        W += sizes[l + 1] * (fan_in + 1);
    }

    /* loss and its gradient with respect to each score */
    {
        const double* score = h[n_layers];
        for (p = 0; p < n; p++) {
            double margin = 1.0 - y[p] * score[p];
            total += margin > 0.0 ? margin : 0.0;
            hits += (y[p] > 0) == (score[p] > 0.0);
            ga[p] = margin > 0.0 ? -y[p] * inv_n : 0.0;
        }
        total *= inv_n;
    }
    for (i = 0; i < n_params; i++) {
        penalty += params[i] * params[i];
        grads[i] = 2.0 * alpha * params[i];
    }
    total += alpha * penalty;

    /* backward, the last layer first; ga: the adjoints of layer l + 1 */
    base = n_params;
    for (l = n_layers - 1; l >= 0; l--) {
        int fan_in = sizes[l], fan_out = sizes[l + 1];
        base -= fan_out * (fan_in + 1);
        W = params + base;
        for (i = 0; i < fan_in * n; i++)
            gb[i] = 0.0;
        for (j = 0; j < fan_out; j++) {
            const double* w = W + j * (fan_in + 1);
            double* gw = grads + base + j * (fan_in + 1);
            const double* g = ga + (size_t)j * n;
            double sum = 0.0;
            for (p = 0; p < n; p++)           /* in point order */
                sum += g[p];
            gw[fan_in] += sum;
            for (i = 0; i < fan_in; i++) {
                const double* x = h[l] + (size_t)i * n;
                double* gx = gb + (size_t)i * n;
                double wi = w[i], s = 0.0;
                for (p = 0; p < n; p++)
                    s += g[p] * x[p];
                gw[i] += s;
                if (l)
                    for (p = 0; p < n; p++)
                        gx[p] = gx[p] + g[p] * wi;
            }
        }
        if (l) {                              /* through the relu of layer l */
            const double* x = h[l];
            for (i = 0; i < fan_in * n; i++)
                gb[i] = x[i] > 0.0 ? gb[i] : 0.0;
            double* swap = ga;
            ga = gb;
            gb = swap;
        }
    }

    for (i = 0; i < n_params; i++)
        params[i] = params[i] - lr * grads[i];
    *correct = hits;
    return total;
}
