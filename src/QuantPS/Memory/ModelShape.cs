using System.Globalization;
using QuantPS.Gguf;

namespace QuantPS.Memory;

/// <summary>
/// The hyperparameters that size a transformer's memory, read as llama.cpp's llama_hparams reads
/// them: per-layer KV head counts (arrays allowed), head dimensions (key_length / value_length,
/// default n_embd / n_head), sliding-window layers and mixture-of-experts layers.
/// </summary>
public sealed record ModelShape
{
    public required string Architecture { get; init; }

    public required int BlockCount { get; init; }

    public required long EmbeddingLength { get; init; }

    public required int HeadCount { get; init; }

    /// <summary>KV heads of each layer (llama.cpp's n_head_kv(il)); 0 means the layer keeps no KV cache.</summary>
    public required IReadOnlyList<int> HeadCountKv { get; init; }

    public required int HeadDimensionK { get; init; }

    public required int HeadDimensionV { get; init; }

    /// <summary>
    /// The widest feed-forward layer (what the compute graph must hold): feed_forward_length. A
    /// mixture-of-experts model's layers use <see cref="ExpertFeedForwardLength"/> instead.
    /// </summary>
    public required long FeedForwardLength { get; init; }

    /// <summary>llama.cpp's n_expert: the experts of each mixture-of-experts layer; 0 for a dense model.</summary>
    public int ExpertCount { get; init; }

    /// <summary>n_expert_used: the experts each token goes through.</summary>
    public int ExpertUsedCount { get; init; }

    /// <summary>n_ff_exp: the width of one expert's feed-forward (gate and up rows, down columns).</summary>
    public long ExpertFeedForwardLength { get; init; }

    /// <summary>True when the layers route tokens to experts (build_moe_ffn) rather than one feed-forward.</summary>
    public bool IsMixtureOfExperts => ExpertCount > 0 && ExpertUsedCount > 0;

    public required long VocabularySize { get; init; }

    /// <summary>The context the model was trained for (the default -ContextLength).</summary>
    public int ContextLength { get; init; }

    /// <summary>llama.cpp's n_swa: the window of sliding-window layers; 0 when there are none.</summary>
    public int SlidingWindow { get; init; }

    /// <summary>Which layers use the sliding window (empty: none).</summary>
    public IReadOnlyList<bool> SlidingLayers { get; init; } = [];

    public bool IsSliding(int layer) => SlidingWindow > 0 && layer < SlidingLayers.Count && SlidingLayers[layer];

    /// <summary>n_embd_k_gqa(il): the K row of one cache cell for one layer.</summary>
    public long KeyWidth(int layer) => (long)HeadDimensionK * HeadCountKv[layer];

    /// <summary>n_embd_v_gqa(il).</summary>
    public long ValueWidth(int layer) => (long)HeadDimensionV * HeadCountKv[layer];

    /// <summary>The widest V row over all layers (n_embd_v_gqa_max, used by a transposed V cache).</summary>
    public long MaxValueWidth => Enumerable.Range(0, BlockCount).Select(ValueWidth).DefaultIfEmpty(0).Max();

    /// <summary>The query width n_head · head_dim_k.</summary>
    public long QueryWidth => (long)HeadCount * HeadDimensionK;

    /// <summary>Reads the shape from a model's metadata (and its tensor table for what metadata may omit).</summary>
    /// <exception cref="MemoryEstimateException">The file is not a text model llama.cpp could run (MemoryNotATextModel).</exception>
    public static ModelShape FromModel(GgufModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var md = model.Metadata;
        var arch = md.GetString("general.architecture") ?? "";
        long Scalar(string key, long fallback) => MaxOf(md.GetValueOrDefault($"{arch}.{key}")) ?? fallback;

        int layers = (int)Scalar("block_count", 0);
        long embd = Scalar("embedding_length", 0);
        int heads = (int)Scalar("attention.head_count", 0);
        if (arch.Length == 0 || layers <= 0 || embd <= 0 || heads <= 0)
        {
            throw new MemoryEstimateException(MemoryErrorIds.NotATextModel,
                $"{model.Location} has no transformer shape ({(arch.Length == 0 ? "no general.architecture" : $"{arch}.block_count, embedding_length or attention.head_count missing")}); " +
                "only text models llama.cpp can run can be measured (a vocabulary-only or projector file cannot).");
        }

        var kv = PerLayer(md.GetValueOrDefault($"{arch}.attention.head_count_kv"), layers, heads);
        int headK = (int)Scalar("attention.key_length", embd / heads);
        int headV = (int)Scalar("attention.value_length", embd / heads);
        long ff = Scalar("feed_forward_length", 4 * embd);
        long vocab = md.GetArray("tokenizer.ggml.tokens")?.Count
            ?? Scalar("vocab_size", model.FindTensor("token_embd.weight") is { Shape.Count: >= 2 } t ? t.Shape[1] : 0);
        var (experts, used, expertFf) = Experts(arch, Scalar, ff);
        // Phi converters write the config's sliding_window, but llama.cpp turns Phi-3's off ("Phi SWA is
        // currently disabled") and phimoe never reads it: their caches are not windowed.
        int window = arch is "phi3" or "phimoe" ? 0 : (int)Scalar("attention.sliding_window", 0);
        var sliding = window > 0 ? SlidingPattern(md.GetValueOrDefault($"{arch}.attention.sliding_window_pattern"), arch, layers) : [];
        return new ModelShape
        {
            Architecture = arch,
            BlockCount = layers,
            EmbeddingLength = embd,
            HeadCount = heads,
            HeadCountKv = kv,
            HeadDimensionK = headK,
            HeadDimensionV = headV,
            FeedForwardLength = ff,
            ExpertCount = experts,
            ExpertUsedCount = used,
            ExpertFeedForwardLength = expertFf,
            VocabularySize = vocab,
            ContextLength = (int)Scalar("context_length", 0),
            SlidingWindow = sliding.Any(s => s) ? window : 0,
            SlidingLayers = sliding,
        };
    }

    // Architectures whose experts, without <arch>.expert_feed_forward_length, are n_ff / n_expert_used wide.
    private static readonly HashSet<string> SplitFeedForward =
        ["qwen2moe", "qwen3moe", "qwen3next", "qwen3vlmoe", "qwen35moe", "glm4moe", "grovemoe", "llada-moe", "mellum", "nemotron_h_moe", "rnd1"];

    // llama_model's load_hparams: <arch>.expert_count and expert_used_count (absent or 0: a dense model).
    // The expert width: llama (Mixtral's layout) makes experts n_ff wide; the other architectures read
    // <arch>.expert_feed_forward_length, and without it use n_ff / n_expert_used (qwen3moe and kin) or n_ff.
    private static (int Count, int Used, long Width) Experts(string arch, Func<string, long, long> scalar, long ff)
    {
        int count = (int)scalar("expert_count", 0);
        int used = (int)scalar("expert_used_count", 0);
        if (count <= 0 || used <= 0)
        {
            return (0, 0, 0);
        }

        long width = arch == "llama" ? ff : scalar("expert_feed_forward_length", 0);
        if (width <= 0)
        {
            width = SplitFeedForward.Contains(arch) ? ff / used : ff;
        }

        return (count, used, width);
    }

    // llama.cpp's set_swa_pattern(n): layer il slides when il % n < n - 1. Architectures set the
    // period in code; a sliding_window_pattern key (a period, or one Boolean per layer) overrides it.
    private static bool[] SlidingPattern(object? key, string arch, int layers)
    {
        if (key is GgufArray array && array.Count == layers)
        {
            return array.Select(v => Convert.ToBoolean(v, CultureInfo.InvariantCulture)).ToArray();
        }

        int period = key is not null and not GgufArray ? Convert.ToInt32(key, CultureInfo.InvariantCulture) : arch switch
        {
            "gemma2" => 2,
            "gemma3" => 6,
            "cohere2" => 4,
            _ => 0,
        };
        if (period <= 0)
        {
            // A window without a known pattern: llama.cpp's default pattern slides every layer.
            return Enumerable.Repeat(true, layers).ToArray();
        }

        return Enumerable.Range(0, layers).Select(il => il % period < period - 1).ToArray();
    }

    private static int[] PerLayer(object? value, int layers, int fallback)
    {
        if (value is GgufArray a)
        {
            return Enumerable.Range(0, layers).Select(i => i < a.Count ? Convert.ToInt32(a[i], CultureInfo.InvariantCulture) : 0).ToArray();
        }

        int v = value is null ? fallback : Convert.ToInt32(value, CultureInfo.InvariantCulture);
        return Enumerable.Repeat(v, layers).ToArray();
    }

    private static long? MaxOf(object? value) => value switch
    {
        null => null,
        GgufArray a => a.Count == 0 ? null : a.Max(v => Convert.ToInt64(v, CultureInfo.InvariantCulture)),
        string => null,
        _ => Convert.ToInt64(value, CultureInfo.InvariantCulture),
    };
}
