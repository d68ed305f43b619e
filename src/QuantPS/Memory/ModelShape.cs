using System.Globalization;
using QuantPS.Gguf;

namespace QuantPS.Memory;

/// <summary>
/// The hyperparameters that size a transformer's memory, read as llama.cpp's llama_hparams reads
/// them: per-layer KV head counts (arrays allowed), head dimensions (key_length / value_length,
/// default n_embd / n_head) and sliding-window layers.
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

    /// <summary>The widest feed-forward layer (what the compute graph must hold).</summary>
    public required long FeedForwardLength { get; init; }

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
        int window = (int)Scalar("attention.sliding_window", 0);
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
            VocabularySize = vocab,
            ContextLength = (int)Scalar("context_length", 0),
            SlidingWindow = sliding.Any(s => s) ? window : 0,
            SlidingLayers = sliding,
        };
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
