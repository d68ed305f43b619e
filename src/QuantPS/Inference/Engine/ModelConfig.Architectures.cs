namespace QuantPS.Inference.Engine;

/// <summary>The gated activation of the feed-forward block: act(gate) * up.</summary>
public enum FeedForwardActivation
{
    /// <summary>SwiGLU, silu(gate) * up: llama, qwen2, qwen3, phi3.</summary>
    Silu,

    /// <summary>GeGLU, gelu(gate) * up with ggml's tanh-approximated GELU: gemma, gemma2.</summary>
    Gelu,
}

/// <summary>
/// The parts of the configuration where the architectures differ beyond llama's keys (llama.cpp's
/// src/models/&lt;arch&gt;.cpp load_arch_hparams and graph): gemma scales the embeddings by sqrt(n_embd), scales Q by
/// 1/sqrt(head dim) before attention and uses GeGLU; gemma2 also soft-caps attention scores and final logits and gives
/// every other layer a sliding window; phi3 scales Q before attention (its fused tensors and LongRoPE factors are
/// <see cref="ModelWeights"/>' business).
/// </summary>
public sealed partial record ModelConfig
{
    /// <summary>Multiplier on the token embeddings (gemma, gemma2: sqrtf(embedding length)); 1 elsewhere.</summary>
    public float EmbeddingScale { get; init; } = 1f;

    /// <summary>
    /// Multiplier on Q after RoPE (gemma, gemma2, phi3 scale Q with ggml_scale and call attention with a scale of 1,
    /// so <see cref="AttentionScale"/> is 1 there); 1 elsewhere.
    /// </summary>
    public float QueryScale { get; init; } = 1f;

    public FeedForwardActivation Activation { get; init; } = FeedForwardActivation.Silu;

    /// <summary>gemma2's attn_logit_softcapping: each score becomes cap * tanh(score / cap); 0 when off.</summary>
    public float AttentionSoftCap { get; init; }

    /// <summary>gemma2's final_logit_softcapping: each logit becomes cap * tanh(logit / cap); 0 when off.</summary>
    public float FinalLogitSoftCap { get; init; }

    /// <summary>Keys a sliding-window layer attends to: its own position and the window - 1 before it; 0 when no layer has one.</summary>
    public int SlidingWindow { get; init; }

    /// <summary>
    /// Layer l has the window when l % period &lt; period - 1 (llama.cpp's set_swa_pattern; period 0: every layer):
    /// gemma2's default 2 gives the even layers a window and the odd ones full attention.
    /// </summary>
    public int SlidingWindowPeriod { get; init; }

    /// <summary>RoPE base of the sliding-window layers (gemma2's rope.freq_base_swa, else <see cref="RopeFreqBase"/>).</summary>
    public float SlidingWindowRopeFreqBase { get; init; }

    /// <summary>Whether <paramref name="layer"/> attends through the sliding window.</summary>
    public bool IsSlidingWindowLayer(int layer) =>
        SlidingWindow > 0 && (SlidingWindowPeriod == 0 || layer % SlidingWindowPeriod < SlidingWindowPeriod - 1);

    private static ModelConfig WithArchitectureSettings(ModelConfig config, KeyReader reader)
    {
        // ggml_scale(Qcur, 1.0f / sqrtf(float(n_embd_head))) then attention with kq_scale 1 (gemma.cpp, phi3.cpp)
        var queryScale = 1f / MathF.Sqrt(config.HeadDimension);
        switch (config.Architecture)
        {
            case "phi3":
            case "phimoe": // phi3's graph (llama.cpp's llama_model_phimoe::graph is llama_model_phi3::graph)
                // phi3's attention.sliding_window is read but switched off by llama.cpp (llama_model_phi3::load_arch_hparams);
                // phimoe's is never read.
                return config with { QueryScale = queryScale, AttentionScale = 1f };
            case "gemma":
                return config with
                {
                    EmbeddingScale = MathF.Sqrt(config.EmbeddingLength),
                    QueryScale = queryScale,
                    AttentionScale = 1f,
                    Activation = FeedForwardActivation.Gelu,
                };
            case "gemma2":
                // 27B (46 layers) scales by 1/sqrt(n_embd / n_head) (integer division), the others by 1/sqrt(head dim).
                var gemma2Scale = config.LayerCount == 46
                    ? 1f / MathF.Sqrt(config.EmbeddingLength / config.HeadCount)
                    : queryScale;
                var gemma2 = config with
                {
                    EmbeddingScale = MathF.Sqrt(config.EmbeddingLength),
                    QueryScale = gemma2Scale,
                    AttentionScale = 1f,
                    Activation = FeedForwardActivation.Gelu,
                    AttentionSoftCap = reader.Float("attn_logit_softcapping", fallback: 50f),
                    FinalLogitSoftCap = reader.Float("final_logit_softcapping", fallback: 30f),
                    SlidingWindow = reader.Int("attention.sliding_window", min: 1, fallback: 4096),
                    SlidingWindowPeriod = reader.ScalarInt("attention.sliding_window_pattern", min: 0, fallback: 2),
                    SlidingWindowRopeFreqBase = reader.Float("rope.freq_base_swa", fallback: config.RopeFreqBase),
                };
                if (!(gemma2.AttentionSoftCap > 0f))
                {
                    throw reader.Invalid("attn_logit_softcapping", $"{gemma2.AttentionSoftCap} must be positive");
                }

                if (!(gemma2.FinalLogitSoftCap > 0f))
                {
                    throw reader.Invalid("final_logit_softcapping", $"{gemma2.FinalLogitSoftCap} must be positive");
                }

                return gemma2;
            default:
                return config;
        }
    }
}
