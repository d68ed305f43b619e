using System.Globalization;
using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.Memory;

/// <summary>
/// A model that does not exist as a file yet: its shape, and the tensor table llama.cpp's
/// converters would write for it (llama-style names; qwen2 adds Q/K/V biases, gemma2 its
/// post-norms, qwen3 per-head Q/K norms). Planned through QuantizePlan, so per-tensor types follow
/// llama-quantize's rules (for experts too: expert_count is in the metadata).
/// </summary>
/// <remarks>
/// A mixture-of-experts shape (<see cref="ExpertCount"/> above 0) replaces each layer's feed-forward with
/// what llama.cpp's loaders expect: the router ffn_gate_inp [n_embd, n_expert] (F32: converters keep
/// it so and llama-quantize never quantizes it), and the experts stacked in 3-D tensors
/// ffn_gate_exps / ffn_up_exps [n_embd, n_ff_exp, n_expert] and ffn_down_exps [n_ff_exp, n_embd, n_expert].
/// <list type="bullet">
/// <item>llama (Mixtral) and phimoe: the experts are feed_forward_length wide (llama.cpp reads no other
/// width for them), so <see cref="ExpertFeedForwardLength"/> stays 0;</item>
/// <item>qwen3moe and qwen2moe: the experts are <see cref="ExpertFeedForwardLength"/> wide (written as
/// expert_feed_forward_length); feed_forward_length is written as the converter does (config.json's
/// intermediate_size) but no tensor uses it, except as qwen2moe's shared-expert width fallback;</item>
/// <item>qwen2moe adds a shared expert: ffn_gate_inp_shexp [n_embd] (F32), ffn_gate_shexp / ffn_up_shexp
/// [n_embd, n_ff_shexp], ffn_down_shexp [n_ff_shexp, n_embd], n_ff_shexp being
/// <see cref="SharedExpertFeedForwardLength"/> (expert_shared_feed_forward_length), or without it
/// feed_forward_length (llama.cpp's fallback);</item>
/// <item>phimoe (Phi-3.5-MoE): LayerNorm biases (attn_norm, ffn_norm, output_norm), attn_output and
/// output biases, Q/K/V biases (<see cref="AttentionBias"/>) and the LongRoPE factors
/// rope_factors_long / rope_factors_short [head_dim / 2] once for all layers. No sliding_window key:
/// Phi-3.5-MoE's config has one, but llama.cpp's phimoe never reads it (its cache is not windowed).</item>
/// </list>
/// </remarks>
public sealed record HypotheticalShape(
    string Architecture, int BlockCount, long EmbeddingLength, int HeadCount, int HeadCountKv, int HeadDimension,
    long FeedForwardLength, long VocabularySize, int ContextLength, bool TiedEmbeddings = false, bool AttentionBias = false,
    int SlidingWindow = 0, int ExpertCount = 0, int ExpertUsedCount = 0, long ExpertFeedForwardLength = 0,
    long SharedExpertFeedForwardLength = 0)
{
    // The architectures whose mixture-of-experts layout is known here; the last three have no dense form.
    private static readonly string[] ExpertArchitectures = ["llama", "phimoe", "qwen2moe", "qwen3moe"];

    private long QueryWidth => (long)HeadCount * HeadDimension;

    private long KvWidth => (long)HeadCountKv * HeadDimension;

    private bool PostNorms => Architecture == "gemma2";

    private bool QkNorms => Architecture is "qwen3" or "qwen3moe";

    private bool Phi => Architecture == "phimoe";

    private bool ExpertsAreFeedForwardWide => Architecture is "llama" or "phimoe";

    /// <summary>True when the layers route tokens to experts.</summary>
    public bool IsMixtureOfExperts => ExpertCount > 0;

    /// <summary>n_ff_exp: one expert's width (0 for a dense shape).</summary>
    public long ExpertWidth => !IsMixtureOfExperts ? 0 : ExpertsAreFeedForwardWide ? FeedForwardLength : ExpertFeedForwardLength;

    private bool HasSharedExpert => IsMixtureOfExperts && Architecture == "qwen2moe";

    private long SharedExpertWidth => SharedExpertFeedForwardLength > 0 ? SharedExpertFeedForwardLength : FeedForwardLength;

    /// <summary>The number of weights the tensor table holds (every expert counted, norms and biases too).</summary>
    public long ParameterCount => Tensors().Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));

    /// <summary>
    /// The feed-forward width that makes a shape hold <paramref name="parameterCount"/> weights,
    /// rounded to a multiple of 256 as published models are (so K-quant rows divide evenly). For a
    /// llama with experts it is the experts' width.
    /// </summary>
    /// <exception cref="MemoryEstimateException">No width gives that many weights, or the width does not change the count (MemoryInvalidShape).</exception>
    public static long FeedForwardFor(long parameterCount, HypotheticalShape withoutFfn)
    {
        ArgumentNullException.ThrowIfNull(withoutFfn);
        var rest = withoutFfn with { FeedForwardLength = 0 };
        long fixedPart = rest.ParameterCount;
        long perUnit = (withoutFfn with { FeedForwardLength = 1 }).ParameterCount - fixedPart;
        if (perUnit <= 0)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidShape,
                $"The {withoutFfn.Architecture} shape's experts have their own width: the feed-forward length does not size it, so it cannot be solved from a parameter count.");
        }

        double ff = (double)(parameterCount - fixedPart) / perUnit;
        if (ff < 1)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidShape,
                $"{ViewCount(parameterCount)} parameters are fewer than the shape's embeddings and attention alone hold ({ViewCount(fixedPart)}): " +
                "lower -BlockCount or -EmbeddingLength, or raise -ParameterCount.");
        }

        return Math.Max(256, (long)Math.Round(ff / 256) * 256);
    }

    /// <exception cref="MemoryEstimateException">A dimension is not positive, the heads do not divide, or the experts do not fit the architecture (MemoryInvalidShape).</exception>
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

        ValidateExperts();
        if (BlockCount > 4096 || EmbeddingLength > 1L << 20 || FeedForwardLength > 1L << 22 || VocabularySize > 1L << 24
            || ExpertCount > 4096 || ExpertFeedForwardLength > 1L << 22 || SharedExpertFeedForwardLength > 1L << 22)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidShape,
                $"The shape is beyond any real model (layers {BlockCount}, n_embd {EmbeddingLength}, n_ff {FeedForwardLength}, vocabulary {VocabularySize}, experts {ExpertCount}).");
        }
    }

    private void ValidateExperts()
    {
        string? problem = null;
        if (ExpertCount < 0 || ExpertUsedCount < 0 || ExpertFeedForwardLength < 0 || SharedExpertFeedForwardLength < 0)
        {
            problem = "expert counts and widths cannot be negative";
        }
        else if (!IsMixtureOfExperts)
        {
            if (ExpertUsedCount > 0 || ExpertFeedForwardLength > 0 || SharedExpertFeedForwardLength > 0)
                problem = "an expert width or used count needs an expert count";
            else if (ExpertArchitectures.Contains(Architecture) && Architecture != "llama")
                problem = $"{Architecture} is a mixture-of-experts architecture: give its expert count";
        }
        else if (!ExpertArchitectures.Contains(Architecture))
        {
            problem = $"no mixture-of-experts layout is known for {Architecture} (known: {string.Join(", ", ExpertArchitectures)})";
        }
        else if (ExpertUsedCount < 1 || ExpertUsedCount > ExpertCount)
        {
            problem = $"{ExpertUsedCount} experts used per token out of {ExpertCount}: the used count must be 1 to the expert count";
        }
        else if (ExpertsAreFeedForwardWide && ExpertFeedForwardLength != 0 && ExpertFeedForwardLength != FeedForwardLength)
        {
            problem = $"llama.cpp makes {Architecture}'s experts feed_forward_length wide: give their width as the feed-forward length";
        }
        else if (!ExpertsAreFeedForwardWide && ExpertFeedForwardLength == 0)
        {
            problem = $"{Architecture} experts need their own width (expert_feed_forward_length)";
        }
        else if (SharedExpertFeedForwardLength > 0 && !HasSharedExpert)
        {
            problem = $"{Architecture} has no shared expert";
        }

        if (problem is not null)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidShape, $"The experts do not fit the shape: {problem}.");
        }
    }

    /// <summary>The tensors of the F16 file a converter would write (norms, biases and routers F32), in file order.</summary>
    public IReadOnlyList<GgufTensorSpec> Tensors()
    {
        var list = new List<GgufTensorSpec>();
        if (Phi)
        {
            list.Add(new("rope_factors_long.weight", GgmlType.F32, [HeadDimension / 2]));
            list.Add(new("rope_factors_short.weight", GgmlType.F32, [HeadDimension / 2]));
        }

        list.Add(new("token_embd.weight", GgmlType.F16, [EmbeddingLength, VocabularySize]));
        for (int i = 0; i < BlockCount; i++)
        {
            string p = $"blk.{i}.";
            Norm(list, p + "attn_norm");
            list.Add(new(p + "attn_q.weight", GgmlType.F16, [EmbeddingLength, QueryWidth]));
            list.Add(new(p + "attn_k.weight", GgmlType.F16, [EmbeddingLength, KvWidth]));
            list.Add(new(p + "attn_v.weight", GgmlType.F16, [EmbeddingLength, KvWidth]));
            if (AttentionBias)
            {
                list.Add(new(p + "attn_q.bias", GgmlType.F32, [QueryWidth]));
                list.Add(new(p + "attn_k.bias", GgmlType.F32, [KvWidth]));
                list.Add(new(p + "attn_v.bias", GgmlType.F32, [KvWidth]));
            }

            if (QkNorms)
            {
                list.Add(new(p + "attn_q_norm.weight", GgmlType.F32, [HeadDimension]));
                list.Add(new(p + "attn_k_norm.weight", GgmlType.F32, [HeadDimension]));
            }

            list.Add(new(p + "attn_output.weight", GgmlType.F16, [QueryWidth, EmbeddingLength]));
            if (Phi) list.Add(new(p + "attn_output.bias", GgmlType.F32, [EmbeddingLength]));
            if (PostNorms) list.Add(new(p + "post_attention_norm.weight", GgmlType.F32, [EmbeddingLength]));
            Norm(list, p + "ffn_norm");
            if (IsMixtureOfExperts)
            {
                Experts(list, p);
            }
            else
            {
                list.Add(new(p + "ffn_gate.weight", GgmlType.F16, [EmbeddingLength, FeedForwardLength]));
                list.Add(new(p + "ffn_up.weight", GgmlType.F16, [EmbeddingLength, FeedForwardLength]));
                list.Add(new(p + "ffn_down.weight", GgmlType.F16, [FeedForwardLength, EmbeddingLength]));
            }

            if (PostNorms) list.Add(new(p + "post_ffw_norm.weight", GgmlType.F32, [EmbeddingLength]));
        }

        Norm(list, "output_norm");
        if (!TiedEmbeddings)
        {
            list.Add(new("output.weight", GgmlType.F16, [EmbeddingLength, VocabularySize]));
            if (Phi) list.Add(new("output.bias", GgmlType.F32, [VocabularySize]));
        }

        return list;
    }

    // RMS norms have a weight; phimoe's LayerNorms a bias too.
    private void Norm(List<GgufTensorSpec> list, string name)
    {
        list.Add(new(name + ".weight", GgmlType.F32, [EmbeddingLength]));
        if (Phi) list.Add(new(name + ".bias", GgmlType.F32, [EmbeddingLength]));
    }

    private void Experts(List<GgufTensorSpec> list, string p)
    {
        long e = EmbeddingLength, w = ExpertWidth;
        list.Add(new(p + "ffn_gate_inp.weight", GgmlType.F32, [e, ExpertCount]));
        list.Add(new(p + "ffn_gate_exps.weight", GgmlType.F16, [e, w, ExpertCount]));
        list.Add(new(p + "ffn_down_exps.weight", GgmlType.F16, [w, e, ExpertCount]));
        list.Add(new(p + "ffn_up_exps.weight", GgmlType.F16, [e, w, ExpertCount]));
        if (HasSharedExpert)
        {
            long s = SharedExpertWidth;
            list.Add(new(p + "ffn_gate_inp_shexp.weight", GgmlType.F32, [e]));
            list.Add(new(p + "ffn_gate_shexp.weight", GgmlType.F16, [e, s]));
            list.Add(new(p + "ffn_down_shexp.weight", GgmlType.F16, [s, e]));
            list.Add(new(p + "ffn_up_shexp.weight", GgmlType.F16, [e, s]));
        }
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
        if (IsMixtureOfExperts)
        {
            list.Add(GgufMetadataEntry.Of($"{a}.expert_count", (uint)ExpertCount));
            list.Add(GgufMetadataEntry.Of($"{a}.expert_used_count", (uint)ExpertUsedCount));
            if (!ExpertsAreFeedForwardWide) list.Add(GgufMetadataEntry.Of($"{a}.expert_feed_forward_length", (uint)ExpertFeedForwardLength));
            if (HasSharedExpert && SharedExpertFeedForwardLength > 0)
            {
                list.Add(GgufMetadataEntry.Of($"{a}.expert_shared_feed_forward_length", (uint)SharedExpertFeedForwardLength));
            }
        }

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
