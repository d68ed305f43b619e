using System.Globalization;
using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.Memory;

/// <summary>
/// A model that does not exist as a file yet: its shape, and the tensor table llama.cpp's
/// converters would write for it (llama-style names; qwen2 adds Q/K/V biases, gemma2 its
/// post-norms). Planned through QuantizePlan, so per-tensor types follow llama-quantize's rules.
/// </summary>
public sealed record HypotheticalShape(
    string Architecture, int BlockCount, long EmbeddingLength, int HeadCount, int HeadCountKv, int HeadDimension,
    long FeedForwardLength, long VocabularySize, int ContextLength, bool TiedEmbeddings = false, bool AttentionBias = false,
    int SlidingWindow = 0)
{
    private long QueryWidth => (long)HeadCount * HeadDimension;

    private long KvWidth => (long)HeadCountKv * HeadDimension;

    private bool PostNorms => Architecture == "gemma2";

    /// <summary>Weights of everything but the feed-forward matrices.</summary>
    private long ParametersBesideFfn =>
        VocabularySize * EmbeddingLength * (TiedEmbeddings ? 1 : 2) + EmbeddingLength
        + BlockCount * (EmbeddingLength * (PostNorms ? 4 : 2)
            + EmbeddingLength * (QueryWidth + 2 * KvWidth) + QueryWidth * EmbeddingLength
            + (AttentionBias ? QueryWidth + 2 * KvWidth : 0));

    /// <summary>The number of weights the tensor table holds.</summary>
    public long ParameterCount => ParametersBesideFfn + BlockCount * 3 * EmbeddingLength * FeedForwardLength;

    /// <summary>
    /// The feed-forward width that makes a shape hold <paramref name="parameterCount"/> weights,
    /// rounded to a multiple of 256 as published models are (so K-quant rows divide evenly).
    /// </summary>
    public static long FeedForwardFor(long parameterCount, HypotheticalShape withoutFfn)
    {
        ArgumentNullException.ThrowIfNull(withoutFfn);
        var rest = withoutFfn with { FeedForwardLength = 0 };
        double perUnit = 3.0 * rest.BlockCount * rest.EmbeddingLength;
        double ff = (parameterCount - rest.ParametersBesideFfn) / perUnit;
        if (ff < 1)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidShape,
                $"{ViewCount(parameterCount)} parameters are fewer than the shape's embeddings and attention alone hold ({ViewCount(rest.ParametersBesideFfn)}): " +
                "lower -BlockCount or -EmbeddingLength, or raise -ParameterCount.");
        }

        return Math.Max(256, (long)Math.Round(ff / 256) * 256);
    }

    /// <exception cref="MemoryEstimateException">A dimension is not positive or the heads do not divide (MemoryInvalidShape).</exception>
    public void Validate()
    {
        void Positive(long v, string name)
        {
            if (v <= 0)
            {
                throw new MemoryEstimateException(MemoryErrorIds.InvalidShape, $"{name} must be positive (got {v}).");
            }
        }

        Positive(BlockCount, "-BlockCount");
        Positive(EmbeddingLength, "-EmbeddingLength");
        Positive(HeadCount, "head count");
        Positive(HeadCountKv, "-HeadCountKv");
        Positive(HeadDimension, "-HeadDimension");
        Positive(FeedForwardLength, "-FeedForwardLength");
        Positive(VocabularySize, "-VocabularySize");
        if (HeadCount % HeadCountKv != 0)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidShape,
                $"{HeadCount} attention heads cannot be shared by {HeadCountKv} KV heads: -HeadCountKv must divide the head count.");
        }

        if (BlockCount > 4096 || EmbeddingLength > 1L << 20 || FeedForwardLength > 1L << 22 || VocabularySize > 1L << 24)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidShape,
                $"The shape is beyond any real model (layers {BlockCount}, n_embd {EmbeddingLength}, n_ff {FeedForwardLength}, vocabulary {VocabularySize}).");
        }
    }

    /// <summary>The tensors of the F16 file a converter would write (norms and biases F32), in file order.</summary>
    public IReadOnlyList<GgufTensorSpec> Tensors()
    {
        var list = new List<GgufTensorSpec> { new("token_embd.weight", GgmlType.F16, [EmbeddingLength, VocabularySize]) };
        for (int i = 0; i < BlockCount; i++)
        {
            string p = $"blk.{i}.";
            list.Add(new(p + "attn_norm.weight", GgmlType.F32, [EmbeddingLength]));
            list.Add(new(p + "attn_q.weight", GgmlType.F16, [EmbeddingLength, QueryWidth]));
            list.Add(new(p + "attn_k.weight", GgmlType.F16, [EmbeddingLength, KvWidth]));
            list.Add(new(p + "attn_v.weight", GgmlType.F16, [EmbeddingLength, KvWidth]));
            if (AttentionBias)
            {
                list.Add(new(p + "attn_q.bias", GgmlType.F32, [QueryWidth]));
                list.Add(new(p + "attn_k.bias", GgmlType.F32, [KvWidth]));
                list.Add(new(p + "attn_v.bias", GgmlType.F32, [KvWidth]));
            }

            list.Add(new(p + "attn_output.weight", GgmlType.F16, [QueryWidth, EmbeddingLength]));
            if (PostNorms) list.Add(new(p + "post_attention_norm.weight", GgmlType.F32, [EmbeddingLength]));
            list.Add(new(p + "ffn_norm.weight", GgmlType.F32, [EmbeddingLength]));
            list.Add(new(p + "ffn_gate.weight", GgmlType.F16, [EmbeddingLength, FeedForwardLength]));
            list.Add(new(p + "ffn_up.weight", GgmlType.F16, [EmbeddingLength, FeedForwardLength]));
            list.Add(new(p + "ffn_down.weight", GgmlType.F16, [FeedForwardLength, EmbeddingLength]));
            if (PostNorms) list.Add(new(p + "post_ffw_norm.weight", GgmlType.F32, [EmbeddingLength]));
        }

        list.Add(new("output_norm.weight", GgmlType.F32, [EmbeddingLength]));
        if (!TiedEmbeddings) list.Add(new("output.weight", GgmlType.F16, [EmbeddingLength, VocabularySize]));
        return list;
    }

    /// <summary>The metadata llama.cpp reads the shape from (no tokenizer: its size is not known).</summary>
    public IReadOnlyList<GgufMetadataEntry> Metadata(string name)
    {
        string a = Architecture;
        var list = new List<GgufMetadataEntry>
        {
            GgufMetadataEntry.Of("general.architecture", a),
            GgufMetadataEntry.Of("general.name", name),
            GgufMetadataEntry.Of("general.file_type", 1u),
            GgufMetadataEntry.Of($"{a}.block_count", (uint)BlockCount),
            GgufMetadataEntry.Of($"{a}.context_length", (uint)ContextLength),
            GgufMetadataEntry.Of($"{a}.embedding_length", (uint)EmbeddingLength),
            GgufMetadataEntry.Of($"{a}.feed_forward_length", (uint)FeedForwardLength),
            GgufMetadataEntry.Of($"{a}.attention.head_count", (uint)HeadCount),
            GgufMetadataEntry.Of($"{a}.attention.head_count_kv", (uint)HeadCountKv),
            GgufMetadataEntry.Of($"{a}.attention.key_length", (uint)HeadDimension),
            GgufMetadataEntry.Of($"{a}.attention.value_length", (uint)HeadDimension),
            GgufMetadataEntry.Of($"{a}.vocab_size", (uint)VocabularySize),
        };
        if (SlidingWindow > 0) list.Add(GgufMetadataEntry.Of($"{a}.attention.sliding_window", (uint)SlidingWindow));
        return list;
    }

    /// <summary>The header-only model QuantizePlan can plan (no tensor data exists).</summary>
    public GgufModel ToVirtualModel(string name)
    {
        Validate();
        return GgufModel.FromPlan($"({name})", GgufLayout.Plan(Metadata(name), Tensors()));
    }

    private static string ViewCount(long n) => (n / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + " B";
}

/// <summary>Reads parameter counts as people write them: 8e9, 8000000000, '70B', '1.5b', '500M'.</summary>
public static class ParameterCount
{
    /// <exception cref="MemoryEstimateException">Not a positive count below 10^15 (MemoryInvalidParameterCount).</exception>
    public static long Parse(object? value)
    {
        double n = value switch
        {
            null => double.NaN,
            double d => d,
            float f => f,
            decimal m => (double)m,
            IConvertible c when value is not string => c.ToDouble(CultureInfo.InvariantCulture),
            _ => ParseText(value.ToString() ?? ""),
        };
        if (double.IsNaN(n) || n < 1 || n >= 1e15)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidParameterCount,
                $"'{value}' is not a parameter count. Write it as a number (8e9, 8000000000) or with a suffix (500M, 8B, 70B, 1.2T).");
        }

        return (long)Math.Round(n);
    }

    private static double ParseText(string text)
    {
        var t = text.Trim().Replace("_", "", StringComparison.Ordinal);
        if (t.Length == 0) return double.NaN;
        double scale = char.ToUpperInvariant(t[^1]) switch
        {
            'K' => 1e3,
            'M' => 1e6,
            'B' or 'G' => 1e9,
            'T' => 1e12,
            _ => 1,
        };
        if (scale != 1) t = t[..^1];
        return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v * scale : double.NaN;
    }
}
