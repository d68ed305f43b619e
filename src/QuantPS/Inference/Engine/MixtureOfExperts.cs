using System.Runtime.InteropServices;
using QuantPS.Kernels.Generated;
using QuantPS.Kernels.MatMul;

namespace QuantPS.Inference.Engine;

/// <summary>
/// The feed-forward block of a mixture-of-experts layer, as llama.cpp's build_moe_ffn runs it for llama (Mixtral),
/// qwen2moe, qwen3moe and phimoe: router logits, their softmax, the <see cref="ModelConfig.ExpertsUsed"/> most probable experts
/// with their probabilities (normalised to sum 1 unless qwen2moe), SwiGLU through each chosen expert, and the experts'
/// outputs times their weights added up in order of probability; then qwen2moe's shared expert times the sigmoid of
/// its gate. Tokens are grouped by expert so that each expert's matrices run once per batch through the
/// matrix-matrix kernels. Owns its scratch memory; not thread-safe.
/// </summary>
internal sealed unsafe class MixtureOfExperts : IDisposable
{
    // ggml_clamp of the weights' sum in build_moe_ffn: the smallest normal F16, so the division never meets 0.
    private const float MinWeightSum = 6.103515625e-5f;

    private readonly int _experts;
    private readonly int _used;
    private readonly int _width;     // one expert's feed-forward width
    private readonly int _embedding;
    private readonly bool _normalize;
    private readonly int[] _chosen;  // rows x used: expert ids, most probable first
    private readonly int[] _counts;  // tokens per expert in this batch
    private readonly int[] _starts;  // where each expert's (row, slot) list begins in _routes
    private readonly int[] _next;    // the next free place of each expert's list while filling it
    private readonly int[] _routes;  // row * used + slot, grouped by expert, rows ascending
    private readonly nint[] _matrices; // one token's chosen experts' gate, up or down weights, most probable first
    private byte* _memory;
    private readonly float* _probabilities; // rows x experts: router logits, then their softmax
    private readonly float* _weights;        // rows x used
    private readonly float* _input;          // one expert's tokens, gathered: rows x embedding
    private readonly float* _sharedGate;     // rows: the shared expert's gate logit, then its sigmoid
    private readonly float* _gate;           // rows x width (or the shared expert's width, if wider); one token: used x width
    private readonly float* _up;
    private readonly float* _expertOutput;   // rows x embedding
    private readonly float* _slots;          // rows x used x embedding: each chosen expert's output per token

    public MixtureOfExperts(ModelConfig config, int maxRows)
    {
        _experts = config.ExpertCount;
        _used = config.ExpertsUsed;
        _width = config.ExpertFeedForwardLength;
        _embedding = config.EmbeddingLength;
        _normalize = config.NormalizeExpertWeights;
        MaxRows = maxRows;
        _chosen = new int[maxRows * _used];
        _counts = new int[_experts];
        _starts = new int[_experts];
        _next = new int[_experts];
        _routes = new int[maxRows * _used];
        _matrices = new nint[_used];
        // Gate and up hold a batch's rows of one expert, or one token's rows of all its experts (RunOneToken), which is
        // more when fewer rows than experts used fit a batch (a BatchSize or context below expert_used_count).
        long rows = maxRows, d = _embedding, widest = Math.Max(_width, config.SharedExpertFeedForwardLength);
        var gateUp = Math.Max(rows * widest, (long)_used * _width);
        long[] sizes = [rows * _experts, rows * _used, rows * d, gateUp, gateUp, rows * d, rows * _used * d, rows];
        var floats = sizes.Sum(s => (s + 15) & ~15L);
        _memory = (byte*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
        var p = (float*)_memory;
        float* Take(long count)
        {
            var start = p;
            p += (count + 15) & ~15L;
            return start;
        }

        _probabilities = Take(sizes[0]);
        _weights = Take(sizes[1]);
        _input = Take(sizes[2]);
        _gate = Take(sizes[3]);
        _up = Take(sizes[4]);
        _expertOutput = Take(sizes[5]);
        _slots = Take(sizes[6]);
        _sharedGate = Take(sizes[7]);
    }

    /// <summary>Tokens one <see cref="Run"/> takes at most.</summary>
    public int MaxRows { get; }

    /// <summary>The block's output for <paramref name="rows"/> normed inputs (rows x embedding) into <paramref name="output"/>.</summary>
    public void Run(ExpertWeights experts, float* input, int rows, float* output, MatMulWorkspace workspace)
    {
        ObjectDisposedException.ThrowIf(_memory == null, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, MaxRows);
        experts.Router.Multiply(input, rows, _probabilities, workspace);
        Route(rows);
        if (rows == 1)
        {
            RunOneToken(experts, input, workspace);
        }
        else
        {
            RunExperts(experts, input, workspace);
        }

        Combine(rows, output);
        if (experts.Shared is { } shared)
        {
            AddSharedExpert(shared, input, rows, output, workspace);
        }
    }

    // Softmax of each row's logits (ggml_soft_max), the top experts (ggml_argsort_top_k, descending; ties to the lower
    // id, where std::sort may take either), their probabilities divided by their sum (ggml_sum_rows, clamp, div).
    private void Route(int rows)
    {
        var softMax = ActivationKernels.SoftMax;
        Array.Clear(_counts);
        for (var r = 0; r < rows; r++)
        {
            var probabilities = _probabilities + ((long)r * _experts);
            var max = AttentionMath.Max(probabilities, _experts);
            var scale = (float)(1.0 / softMax(probabilities, probabilities, _experts, max));
            for (var e = 0; e < _experts; e++)
            {
                probabilities[e] *= scale;
            }

            var chosen = _chosen.AsSpan(r * _used, _used);
            var weights = _weights + ((long)r * _used);
            for (var s = 0; s < _used; s++)
            {
                var best = -1;
                for (var e = 0; e < _experts; e++)
                {
                    if (chosen[..s].Contains(e))
                    {
                        continue;
                    }

                    // NaN never wins over a number; an all-NaN row still picks distinct experts.
                    if (best < 0 || probabilities[e] > probabilities[best] || (float.IsNaN(probabilities[best]) && !float.IsNaN(probabilities[e])))
                    {
                        best = e;
                    }
                }

                chosen[s] = best;
                weights[s] = probabilities[best];
                _counts[best]++;
            }

            if (!_normalize)
            {
                continue;
            }

            double sum = 0; // ggml_vec_sum_f32: a double sum, stored as float
            for (var s = 0; s < _used; s++)
            {
                sum += weights[s];
            }

            var total = Math.Max((float)sum, MinWeightSum);
            for (var s = 0; s < _used; s++)
            {
                weights[s] /= total;
            }
        }

        var start = 0;
        for (var e = 0; e < _experts; e++)
        {
            _starts[e] = start;
            start += _counts[e];
        }

        _starts.CopyTo(_next, 0);
        for (var route = 0; route < rows * _used; route++)
        {
            _routes[_next[_chosen[route]]++] = route;
        }
    }

    // Each expert that has tokens: gather them, gate and up, SwiGLU, down, then each token's row into its slot.
    private void RunExperts(ExpertWeights experts, float* input, MatMulWorkspace workspace)
    {
        var d = _embedding;
        for (var e = 0; e < _experts; e++)
        {
            var n = _counts[e];
            if (n == 0)
            {
                continue;
            }

            var routes = _routes.AsSpan(_starts[e], n);
            for (var i = 0; i < n; i++)
            {
                var row = routes[i] / _used;
                new ReadOnlySpan<float>(input + ((long)row * d), d).CopyTo(new Span<float>(_input + ((long)i * d), d));
            }

            experts.Gate[e].Multiply(_input, n, _gate, workspace);
            experts.Up[e].Multiply(_input, n, _up, workspace);
            Activations.SwiGlu(_gate, _up, _width, n);
            experts.Down[e].Multiply(_gate, n, _expertOutput, workspace);
            for (var i = 0; i < n; i++)
            {
                new ReadOnlySpan<float>(_expertOutput + ((long)i * d), d).CopyTo(new Span<float>(_slots + ((long)routes[i] * d), d));
            }
        }
    }

    // One token (generation): its experts' gate, up and down each as one job (as ggml's mul_mat_id), the input
    // quantized once for all gates and once for all ups, the outputs straight into the token's slots.
    private void RunOneToken(ExpertWeights experts, float* input, MatMulWorkspace workspace)
    {
        var chosen = _chosen.AsSpan(0, _used);
        Multiply(experts.Gate, chosen, input, 1, _gate);
        Multiply(experts.Up, chosen, input, 1, _up);
        Activations.SwiGlu(_gate, _up, _width, _used);
        Multiply(experts.Down, chosen, _gate, _used, _slots);

        void Multiply(IReadOnlyList<WeightMatrix> matrices, ReadOnlySpan<int> which, float* x, int inputRows, float* y)
        {
            for (var s = 0; s < which.Length; s++)
            {
                _matrices[s] = (nint)matrices[which[s]].Data;
            }

            var first = matrices[which[0]];
            MatMulDriver.MultiplyVectors(first.Type, _matrices, first.Columns, first.Rows, x, inputRows, y, workspace);
        }
    }

    // ggml_mul by the weights (each product rounded to float), then the slots added one after another, most probable first.
    private void Combine(int rows, float* output)
    {
        var d = _embedding;
        for (var r = 0; r < rows; r++)
        {
            var y = output + ((long)r * d);
            var weights = _weights + ((long)r * _used);
            var slot = _slots + ((long)r * _used * d);
            var w = weights[0];
            for (var j = 0; j < d; j++)
            {
                y[j] = slot[j] * w;
            }

            for (var s = 1; s < _used; s++)
            {
                slot += d;
                w = weights[s];
                for (var j = 0; j < d; j++)
                {
                    y[j] += slot[j] * w;
                }
            }
        }
    }

    // qwen2moe: output += SwiGLU block (x) * sigmoid(gate), the sigmoid as its graph computes it: silu(g) / g, where
    // ggml_silu of one value is g / (1 + expf(-g)).
    private void AddSharedExpert(SharedExpertWeights shared, float* input, int rows, float* output, MatMulWorkspace workspace)
    {
        var d = _embedding;
        var width = shared.Gate.Rows;
        shared.GateInput.Multiply(input, rows, _sharedGate, workspace);
        shared.Gate.Multiply(input, rows, _gate, workspace);
        shared.Up.Multiply(input, rows, _up, workspace);
        Activations.SwiGlu(_gate, _up, width, rows);
        shared.Down.Multiply(_gate, rows, _expertOutput, workspace);
        for (var r = 0; r < rows; r++)
        {
            var g = _sharedGate[r];
            var scale = g / (1f + MathF.Exp(-g)) / g;
            var y = output + ((long)r * d);
            var x = _expertOutput + ((long)r * d);
            for (var j = 0; j < d; j++)
            {
                y[j] += x[j] * scale;
            }
        }
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        if (_memory != null)
        {
            NativeMemory.AlignedFree(_memory);
            _memory = null;
        }
    }

    ~MixtureOfExperts() => Free();
}
