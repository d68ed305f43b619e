using System.Globalization;
using QuantPS.Gguf;

namespace QuantPS.Inference.Engine;

/// <summary>How RoPE pairs the values of a head: llama.cpp's "normal" (adjacent pairs) or NEOX (first half with second half).</summary>
public enum RopeLayout
{
    /// <summary>Pairs (x[2i], x[2i+1]): llama, mistral.</summary>
    Normal,

    /// <summary>Pairs (x[i], x[i + n/2]): qwen2, qwen3, phi3, gemma.</summary>
    Neox,
}

/// <summary>The RoPE context-extension scheme a model was trained with (GGUF <c>rope.scaling.type</c>).</summary>
public enum RopeScaling
{
    /// <summary>"none": positions are never scaled, whatever rope.scaling.factor says.</summary>
    None,

    /// <summary>"linear" (also the default when the key is absent): positions times 1 / factor.</summary>
    Linear,

    /// <summary>"yarn": linear interpolation blended with extrapolation per frequency, plus a magnitude correction.</summary>
    Yarn,

    /// <summary>"longrope" (phi3): per-frequency divisors from the rope_factors_long / rope_factors_short tensors.</summary>
    LongRope,
}

/// <summary>
/// The hyperparameters of a model, read from GGUF metadata with llama.cpp's keys and defaults
/// (llama-model.cpp load_hparams). Everything the forward pass needs, nothing it does not.
/// </summary>
public sealed partial record ModelConfig
{
    /// <summary>
    /// The architectures this engine has a forward pass for: llama (also Mistral's models, which llama.cpp files as
    /// llama), qwen2 (Q/K/V biases), qwen3 (per-head RMS norm of Q and K), phi3 (fused QKV and gate/up, LongRoPE
    /// factors), gemma and gemma2 (scaled embeddings, GeGLU, tied output; gemma2 adds post-norms, soft-capping and
    /// sliding-window layers), qwen2moe and qwen3moe (qwen2's and qwen3's attention, a mixture of experts in every
    /// layer, qwen2moe's with a shared expert; llama files with expert_count, such as Mixtral's, have one too), phimoe
    /// (phi3's attention with biased norms, experts), with llama.cpp's RoPE layout for each. See
    /// ModelConfig.Architectures.cs and ModelConfig.Experts.cs.
    /// </summary>
    public static IReadOnlyList<string> SupportedArchitectures { get; } = new[] { "llama", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "phi3", "phimoe", "gemma", "gemma2" };

    /// <summary>The strings rope.scaling.type may hold (llama.cpp's LLAMA_ROPE_SCALING_TYPES).</summary>
    public static IReadOnlyList<string> SupportedRopeScalings { get; } = new[] { "none", "linear", "yarn", "longrope" };

    public required string Architecture { get; init; }

    public required int LayerCount { get; init; }

    public required int EmbeddingLength { get; init; }

    public required int FeedForwardLength { get; init; }

    public required int HeadCount { get; init; }

    public required int KvHeadCount { get; init; }

    /// <summary>Values per head of Q and K (attention.key_length, else embedding / heads).</summary>
    public required int HeadDimension { get; init; }

    public required int VocabularySize { get; init; }

    /// <summary>The context length the model was trained with (llama.cpp's n_ctx_train).</summary>
    public required int TrainedContextLength { get; init; }

    public required float RmsNormEpsilon { get; init; }

    public required RopeLayout RopeLayout { get; init; }

    /// <summary>Values of each head that RoPE rotates (rope.dimension_count, else the head dimension).</summary>
    public required int RopeDimensions { get; init; }

    public required float RopeFreqBase { get; init; }

    /// <summary>1 / the scaling factor (llama.cpp's rope_freq_scale); 1 when unscaled.</summary>
    public required float RopeFreqScale { get; init; }

    public required RopeScaling RopeScaling { get; init; }

    /// <summary>The context length YaRN corrects from (rope.scaling.original_context_length, else the trained one).</summary>
    public required int RopeOriginalContextLength { get; init; }

    /// <summary>
    /// YaRN's ramp bounds in rotations. llama.cpp reads rope.scaling.yarn_beta_fast/slow (and yarn_ext_factor,
    /// yarn_attn_factor, yarn_log_multiplier) only for grok and deepseek2, so for these architectures they are the
    /// defaults whatever the file says.
    /// </summary>
    public float YarnBetaFast { get; init; } = 32f;

    /// <inheritdoc cref="YarnBetaFast"/>
    public float YarnBetaSlow { get; init; } = 1f;

    /// <summary>rope.scaling.finetuned: informational only (llama.cpp just prints it).</summary>
    public bool RopeFinetuned { get; init; }

    /// <summary>rope.scaling.attn_factor: a multiplier on the rotated values (1 unless the model says).</summary>
    public float RopeAttentionFactor { get; init; } = 1f;

    /// <summary>Q·K scale: 1/sqrt(head dimension) unless attention.scale says otherwise.</summary>
    public required float AttentionScale { get; init; }

    /// <summary>Values of K (and V) per token per layer: KV heads x head dimension.</summary>
    public int KvWidth => KvHeadCount * HeadDimension;

    /// <summary>Values of Q per token: heads x head dimension.</summary>
    public int QueryWidth => HeadCount * HeadDimension;

    /// <summary>Reads the hyperparameters of <paramref name="metadata"/>.</summary>
    /// <exception cref="LlmException">An unsupported architecture, or a missing or invalid key.</exception>
    public static ModelConfig FromMetadata(GgufMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var arch = metadata.GetString("general.architecture")
            ?? throw new LlmException(LlmErrorKind.MissingMetadata,
                "The model has no general.architecture key, so there is no telling how to run it.", "general.architecture");
        if (!SupportedArchitectures.Contains(arch))
        {
            throw new LlmException(LlmErrorKind.UnsupportedArchitecture,
                $"The architecture '{arch}' is not supported yet; supported: {string.Join(", ", SupportedArchitectures)}.", arch);
        }

        var reader = new KeyReader(metadata, arch);
        var layers = reader.Int("block_count", min: 1);
        var embedding = reader.Int("embedding_length", min: 1);
        // qwen2moe and qwen3moe may size their experts by expert_feed_forward_length alone (llama.cpp reads n_ff as optional).
        var feedForward = arch is "qwen3moe" or "qwen2moe"
            ? reader.Int("feed_forward_length", min: 0, fallback: 0)
            : reader.Int("feed_forward_length", min: 1);
        var heads = reader.Int("attention.head_count", min: 1);
        var kvHeads = reader.Int("attention.head_count_kv", min: 1, fallback: heads);
        if (heads % kvHeads != 0)
        {
            throw reader.Invalid("attention.head_count_kv", $"{heads} heads cannot be shared evenly among {kvHeads} KV heads");
        }

        if (embedding % heads != 0 && !metadata.ContainsKey(arch + ".attention.key_length"))
        {
            throw reader.Invalid("embedding_length", $"{embedding} is not a multiple of the {heads} heads");
        }

        var headDim = reader.Int("attention.key_length", min: 1, fallback: embedding / heads);
        if ((long)heads * headDim > int.MaxValue)
        {
            // Unchecked, the product wraps and may then match a small attn_q while every head buffer is sized by key_length.
            throw reader.Invalid("attention.key_length", $"{heads} heads of {headDim} values are more than any tensor can hold");
        }

        var valueDim = reader.Int("attention.value_length", min: 1, fallback: embedding / heads);
        if (valueDim != headDim)
        {
            throw reader.Invalid("attention.value_length", $"value heads of {valueDim} beside key heads of {headDim} are not supported");
        }

        var ropeDims = reader.Int("rope.dimension_count", min: 2, fallback: headDim);
        if (ropeDims > headDim || ropeDims % 2 != 0)
        {
            throw reader.Invalid("rope.dimension_count", $"{ropeDims} must be even and at most the head dimension {headDim}");
        }

        if (ropeDims != headDim)
        {
            throw reader.Invalid("rope.dimension_count", $"{arch} rotates whole heads: expected {headDim}, got {ropeDims}");
        }

        var trainedContext = reader.Int("context_length", min: 1);
        var scaling = ReadRopeScaling(metadata, reader, arch);
        var factor = reader.Float("rope.scaling.factor", fallback: reader.Float("rope.scale_linear", fallback: 0f));
        if (factor < 0f)
        {
            throw reader.Invalid(metadata.ContainsKey(arch + ".rope.scaling.factor") ? "rope.scaling.factor" : "rope.scale_linear",
                $"{factor} is negative (0 or absent means unscaled)");
        }

        // llama.cpp: a factor of 0 (or none) means 1; the type "none" never scales.
        var freqScale = factor == 0f || scaling == RopeScaling.None ? 1f : 1f / factor;
        var originalContext = reader.Int("rope.scaling.original_context_length", min: 0, fallback: 0);

        var scale = reader.Float("attention.scale", fallback: 0f);
        var vocab = metadata.ContainsKey(arch + ".vocab_size") ? reader.Int("vocab_size", min: 1)
            : metadata.GetArray("tokenizer.ggml.tokens")?.Count
            ?? throw new LlmException(LlmErrorKind.MissingMetadata,
                $"The model has neither {arch}.vocab_size nor tokenizer.ggml.tokens, so its vocabulary size is unknown.", arch + ".vocab_size");
        if (vocab < 1)
        {
            throw new LlmException(LlmErrorKind.InvalidMetadata, "The vocabulary (tokenizer.ggml.tokens) is empty.", "tokenizer.ggml.tokens");
        }

        var config = new ModelConfig
        {
            Architecture = arch,
            LayerCount = layers,
            EmbeddingLength = embedding,
            FeedForwardLength = feedForward,
            HeadCount = heads,
            KvHeadCount = kvHeads,
            HeadDimension = headDim,
            VocabularySize = vocab,
            TrainedContextLength = trainedContext,
            RmsNormEpsilon = reader.Float("attention.layer_norm_rms_epsilon"),
            RopeLayout = arch == "llama" ? RopeLayout.Normal : RopeLayout.Neox, // llama-model.cpp llama_model_rope_type
            RopeDimensions = ropeDims,
            RopeFreqBase = reader.Float("rope.freq_base", fallback: 10000f),
            RopeFreqScale = freqScale,
            RopeScaling = scaling,
            RopeOriginalContextLength = originalContext == 0 ? trainedContext : originalContext, // 0 = unset, as in llama_context
            RopeAttentionFactor = reader.Float("rope.scaling.attn_factor", fallback: 1f),
            RopeFinetuned = metadata.GetBool(arch + ".rope.scaling.finetuned") ?? false,
            AttentionScale = scale == 0f ? 1f / MathF.Sqrt(headDim) : scale,
        };
        return WithExperts(WithArchitectureSettings(config, reader), reader);
    }

    // rope.scaling.type, "linear" when absent; llama.cpp asserts on anything else, this names the key and the choices.
    private static RopeScaling ReadRopeScaling(GgufMetadata metadata, KeyReader reader, string arch)
    {
        var key = arch + ".rope.scaling.type";
        if (!metadata.ContainsKey(key))
        {
            return RopeScaling.Linear;
        }

        var name = metadata.GetString(key) ?? throw reader.Invalid("rope.scaling.type", "it is not a string");
        return name switch
        {
            "none" => RopeScaling.None,
            "linear" => RopeScaling.Linear,
            "yarn" => RopeScaling.Yarn,
            "longrope" => RopeScaling.LongRope,
            _ => throw reader.Invalid("rope.scaling.type",
                $"'{name}' is not a supported RoPE scaling type (supported: {string.Join(", ", SupportedRopeScalings)})"),
        };
    }

    // Reads "<arch>.<key>" with a clear error naming the full key.
    private readonly struct KeyReader(GgufMetadata metadata, string arch)
    {
        public int Int(string key, int min, int? fallback = null)
        {
            var full = arch + "." + key;
            var entry = metadata.GetValueOrDefault(full);
            if (entry is null)
            {
                return fallback ?? throw new LlmException(LlmErrorKind.MissingMetadata,
                    $"The model lacks the metadata key {full}, which a {arch} model needs.", full);
            }

            long value;
            if (entry is GgufArray array)
            {
                // Per-layer arrays (e.g. head_count_kv): only a uniform one is supported. Integer elements, or
                // floats that are whole numbers (llama.cpp's get_arr converts float32 ones); anything else is refused.
                var values = new HashSet<long>();
                foreach (var item in array.Items)
                {
                    values.Add(ArrayInteger(item) ?? throw Invalid(key, $"it is an array of {array.ElementType}, and {item} is not a whole number"));
                }

                if (values.Count != 1)
                {
                    throw Invalid(key, values.Count == 0 ? "the array is empty" : "per-layer values that differ are not supported");
                }

                value = values.First();
            }
            else
            {
                value = metadata.GetInteger(full) ?? throw Invalid(key, $"it holds a {entry.GetType().Name}, not an integer");
            }

            if (value < min || value > int.MaxValue)
            {
                throw Invalid(key, $"{value} is out of range");
            }

            return (int)value;
        }

        private static long? ArrayInteger(object? item) => item switch
        {
            byte or sbyte or ushort or short or uint or int or long => Convert.ToInt64(item, CultureInfo.InvariantCulture),
            ulong v when v <= long.MaxValue => (long)v,
            float or double when Convert.ToDouble(item, CultureInfo.InvariantCulture) is var d
                && double.IsFinite(d) && Math.Floor(d) == d && Math.Abs(d) <= int.MaxValue => (long)d,
            _ => null,
        };

        /// <summary>
        /// As <see cref="Int"/> for a key llama.cpp reads into one integer with get_key_or_arr: an array there is
        /// ignored (the fallback holds), as llama.cpp ignores it.
        /// </summary>
        public int ScalarInt(string key, int min, int fallback) =>
            metadata.GetValueOrDefault(arch + "." + key) is GgufArray ? fallback : Int(key, min, fallback);

        public float Float(string key, float? fallback = null)
        {
            var full = arch + "." + key;
            if (!metadata.ContainsKey(full))
            {
                return fallback ?? throw new LlmException(LlmErrorKind.MissingMetadata,
                    $"The model lacks the metadata key {full}, which a {arch} model needs.", full);
            }

            var value = metadata.GetFloat(full) ?? metadata.GetInteger(full)
                ?? throw Invalid(key, "it is not a number");
            if (!double.IsFinite(value))
            {
                throw Invalid(key, $"{value} is not finite");
            }

            return (float)value;
        }

        public LlmException Invalid(string key, string why) =>
            new(LlmErrorKind.InvalidMetadata, $"The metadata key {arch}.{key} is invalid: {why}.", arch + "." + key);
    }
}
