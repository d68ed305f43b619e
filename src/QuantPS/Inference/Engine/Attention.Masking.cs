using System.Runtime.CompilerServices;

namespace QuantPS.Inference.Engine;

/// <summary>
/// What a query may see and how its raw scores are shaped: the causal mask narrowed to a sliding window on gemma2's
/// window layers (llama.cpp's LLAMA_SWA_TYPE_STANDARD: key p0 is hidden from query p1 when p1 - p0 &gt;= window; ggml
/// skips masked keys on the vector path and gives them -inf on the tiled one, so both start at the window's first
/// key here), and gemma2's score soft-capping (cap * tanh(dot * scale / cap), tanhf as ggml).
/// </summary>
internal sealed unsafe partial class Attention
{
    // Keys per window on the current call's layer; 0 for full causal attention.
    private int _window;

    /// <summary>The first cached position the query at <paramref name="position"/> attends to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int FirstKey(int position) => _window == 0 ? 0 : Math.Max(0, position - _window + 1);

    /// <summary>A Q·K product as the softmax sees it: scaled, and soft-capped where the model says.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float Score(float dot)
    {
        var s = dot * _scoreScale;
        return _softCap > 0f ? _softCap * MathF.Tanh(s) : s;
    }
}
