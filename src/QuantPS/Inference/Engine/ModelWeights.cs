using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Kernels.MatMul;

namespace QuantPS.Inference.Engine;

/// <summary>A weight matrix as the file stores it: <see cref="Rows"/> rows of <see cref="Columns"/> values, a view into the mapping.</summary>
public readonly unsafe struct WeightMatrix
{
    public WeightMatrix(string name, GgmlType type, byte* data, int columns, int rows)
    {
        Name = name;
        Type = type;
        Data = data;
        Columns = columns;
        Rows = rows;
    }

    public string Name { get; }

    public GgmlType Type { get; }

    public byte* Data { get; }

    /// <summary>Values per row (ggml ne0): the input width of the multiplication.</summary>
    public int Columns { get; }

    /// <summary>Rows (ggml ne1): the output width of the multiplication.</summary>
    public int Rows { get; }

    /// <summary>
    /// Rows <paramref name="first"/>..first+count-1 as a matrix of their own, a view at their offset (a row is whole
    /// blocks): how fused tensors (phi3's attn_qkv and gate+up ffn_up) become Q, K, V, gate and up without a copy.
    /// </summary>
    public WeightMatrix RowSlice(int first, int count, string part)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first + count, Rows);
        var rowBytes = GgmlTypeTraits.Get(Type).RowSizeBytes(Columns);
        return new WeightMatrix($"{Name} ({part})", Type, Data + (first * rowBytes), Columns, count);
    }

    /// <summary>Y (m rows of <see cref="Rows"/>) = X (m rows of <see cref="Columns"/>) times this matrix transposed.</summary>
    public void Multiply(float* x, int m, float* y, MatMulWorkspace workspace) =>
        MatMulDriver.Multiply(Type, Data, Columns, Rows, x, m, y, workspace);
}

/// <summary>
/// One layer's experts: the router (ffn_gate_inp, one row of logits per expert) and each expert's gate, up and down,
/// views into the 3-D ffn_*_exps tensors; qwen2moe's shared expert, or null.
/// </summary>
public sealed record ExpertWeights(WeightMatrix Router, IReadOnlyList<WeightMatrix> Gate, IReadOnlyList<WeightMatrix> Up, IReadOnlyList<WeightMatrix> Down)
{
    public SharedExpertWeights? Shared { get; init; }
}

/// <summary>qwen2moe's shared expert: its gate input (ffn_gate_inp_shexp, one row: one logit per token) and its SwiGLU block.</summary>
public sealed record SharedExpertWeights(WeightMatrix GateInput, WeightMatrix Gate, WeightMatrix Up, WeightMatrix Down);

/// <summary>The weights of one transformer block.</summary>
public sealed unsafe class LayerWeights
{
    public required float* AttentionNorm { get; init; }

    public required WeightMatrix Query { get; init; }

    public required WeightMatrix Key { get; init; }

    public required WeightMatrix Value { get; init; }

    public required WeightMatrix Output { get; init; }

    public required float* FeedForwardNorm { get; init; }

    /// <summary>The dense feed-forward block's matrices; unset (default) in a mixture-of-experts layer.</summary>
    public WeightMatrix Gate { get; init; }

    public WeightMatrix Up { get; init; }

    public WeightMatrix Down { get; init; }

    /// <summary>The experts that replace Gate, Up and Down in a mixture-of-experts model; null in a dense one.</summary>
    public ExpertWeights? Experts { get; init; }

    /// <summary>Optional biases added after the Q, K, V and output projections (qwen2; optional in llama); null when absent.</summary>
    public float* QueryBias { get; init; }

    public float* KeyBias { get; init; }

    public float* ValueBias { get; init; }

    public float* OutputBias { get; init; }

    /// <summary>qwen3's per-head RMS norm weights of Q and K (one head's width); null for other architectures.</summary>
    public float* QueryNorm { get; init; }

    public float* KeyNorm { get; init; }

    /// <summary>phimoe's biases added after the attention and feed-forward RMS norms (llama.cpp's attn_norm_b, ffn_norm_b); null elsewhere.</summary>
    public float* AttentionNormBias { get; init; }

    public float* FeedForwardNormBias { get; init; }

    /// <summary>gemma2's RMS norms of the attention and feed-forward outputs before each residual add; null elsewhere.</summary>
    public float* PostAttentionNorm { get; init; }

    public float* PostFeedForwardNorm { get; init; }
}

/// <summary>
/// Every weight of a llama-family model (llama, qwen2, qwen3, phi3, gemma, gemma2; the MoE llama, qwen2moe, qwen3moe, phimoe) as views into the memory-mapped GGUF
/// (never copied), checked once at load against the configuration: shapes, and types the kernels can multiply.
/// Fused tensors (attn_qkv; phi3's ffn_up holding gate then up) are split into row views; gemma and gemma2 always
/// use token_embd as the output (llama.cpp loads no output.weight for them).
/// </summary>
public sealed unsafe class ModelWeights
{
    private ModelWeights(GgufTensorInfo embedding, byte* embeddingData, float* outputNorm, WeightMatrix output, float* outputBias, LayerWeights[] layers, float* ropeFrequencies)
    {
        OutputBias = outputBias;
        TokenEmbeddingInfo = embedding.TypeInfo;
        TokenEmbedding = embeddingData;
        OutputNorm = outputNorm;
        Output = output;
        Layers = layers;
        RopeFrequencyFactors = ropeFrequencies;
    }

    /// <summary>token_embd: one row per token, in <see cref="TokenEmbeddingInfo"/>'s type.</summary>
    public byte* TokenEmbedding { get; }

    public GgmlTypeInfo TokenEmbeddingInfo { get; }

    public float* OutputNorm { get; }

    /// <summary>output.weight, or token_embd when the model ties them.</summary>
    public WeightMatrix Output { get; }

    /// <summary>output.bias (qwen2 may have one, phimoe has one), or null.</summary>
    public float* OutputBias { get; }

    /// <summary>output_norm.bias (phimoe), added after the final RMS norm; or null.</summary>
    public float* OutputNormBias { get; private init; }

    public IReadOnlyList<LayerWeights> Layers { get; }

    /// <summary>rope_freqs.weight (llama 3 style per-frequency divisors), or null.</summary>
    public float* RopeFrequencyFactors { get; }

    /// <summary>rope_factors_long.weight of a longrope model (used when the context exceeds the original one), or null.</summary>
    public float* RopeFactorsLong { get; private init; }

    /// <summary>rope_factors_short.weight of a longrope model, or null.</summary>
    public float* RopeFactorsShort { get; private init; }

    /// <exception cref="LlmException">A tensor is missing, misshapen or of a type the kernels cannot multiply.</exception>
    public static ModelWeights Load(GgufModel model, ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        var loader = new Loader(model);
        var d = config.EmbeddingLength;
        var embedding = loader.Require("token_embd.weight", d, config.VocabularySize);
        if (embedding.TypeInfo.Dequantize is null)
        {
            throw new LlmException(LlmErrorKind.InvalidTensor,
                $"token_embd.weight is stored as {embedding.Type}, which has no dequantizer yet.", embedding.Name);
        }

        // gemma/gemma2 tie the output to token_embd (an output.weight there is not theirs: llama.cpp would refuse the file).
        var tied = config.Architecture is "gemma" or "gemma2" || model.FindTensor("output.weight") is null;
        var output = loader.Matrix(tied ? "token_embd.weight" : "output.weight", d, config.VocabularySize);

        // block_count is only as good as the tensors behind it: size the list by what the file can hold, not by the key.
        var layers = new List<LayerWeights>(Math.Min(config.LayerCount, model.Tensors.Count));
        var gemma2 = config.Architecture == "gemma2";
        var phimoe = config.Architecture == "phimoe"; // norms with biases, biased attention output and logits
        var qwen3 = config.Architecture is "qwen3" or "qwen3moe"; // per-head Q/K norms
        for (var i = 0; i < config.LayerCount; i++)
        {
            var p = $"blk.{i}.";
            var (query, key, value) = QueryKeyValue(model, loader, config, p);
            var experts = config.IsMixtureOfExperts ? Experts(loader, config, p) : null;
            var (gate, up) = experts is null ? GateUp(loader, config, p) : default;
            layers.Add(new LayerWeights
            {
                AttentionNorm = loader.Vector(p + "attn_norm.weight", d),
                Query = query,
                Key = key,
                Value = value,
                Output = loader.Matrix(p + "attn_output.weight", config.QueryWidth, d),
                FeedForwardNorm = loader.Vector(p + "ffn_norm.weight", d),
                Gate = gate,
                Up = up,
                Down = experts is null ? loader.Matrix(p + "ffn_down.weight", config.FeedForwardLength, d) : default,
                Experts = experts,
                QueryBias = loader.OptionalVector(p + "attn_q.bias", config.QueryWidth),
                KeyBias = loader.OptionalVector(p + "attn_k.bias", config.KvWidth),
                ValueBias = loader.OptionalVector(p + "attn_v.bias", config.KvWidth),
                OutputBias = phimoe ? loader.Vector(p + "attn_output.bias", d) : loader.OptionalVector(p + "attn_output.bias", d),
                AttentionNormBias = phimoe ? loader.Vector(p + "attn_norm.bias", d) : null,
                FeedForwardNormBias = phimoe ? loader.Vector(p + "ffn_norm.bias", d) : null,
                QueryNorm = qwen3 ? loader.Vector(p + "attn_q_norm.weight", config.HeadDimension) : null,
                KeyNorm = qwen3 ? loader.Vector(p + "attn_k_norm.weight", config.HeadDimension) : null,
                PostAttentionNorm = gemma2 ? loader.Vector(p + "post_attention_norm.weight", d) : null,
                PostFeedForwardNorm = gemma2 ? loader.Vector(p + "post_ffw_norm.weight", d) : null,
            });
        }

        // As llama.cpp's llama loader: a longrope model has long/short factors instead of rope_freqs (all optional).
        var pairs = config.RopeDimensions / 2;
        var longRope = config.RopeScaling == RopeScaling.LongRope || config.Architecture is "phi3" or "phimoe"; // these always have their factor pair
        var ropeFreqs = longRope ? null : loader.OptionalVector("rope_freqs.weight", pairs);
        var outputBias = phimoe ? loader.Vector("output.bias", config.VocabularySize) : loader.OptionalVector("output.bias", config.VocabularySize);
        return new ModelWeights(embedding, model.GetTensorPointer(embedding), loader.Vector("output_norm.weight", d), output, outputBias, layers.ToArray(), ropeFreqs)
        {
            OutputNormBias = phimoe ? loader.Vector("output_norm.bias", d) : null,
            RopeFactorsLong = longRope ? loader.OptionalVector("rope_factors_long.weight", pairs) : null,
            RopeFactorsShort = longRope ? loader.OptionalVector("rope_factors_short.weight", pairs) : null,
        };
    }

    // Q, K, V: a fused attn_qkv (rows Q, then K, then V, as llama.cpp's build_qkv views them) or three tensors.
    private static (WeightMatrix Query, WeightMatrix Key, WeightMatrix Value) QueryKeyValue(GgufModel model, Loader loader, ModelConfig config, string p)
    {
        var d = config.EmbeddingLength;
        var fusedName = p + "attn_qkv.weight";
        var fused = model.FindTensor(fusedName) is not null;
        if (!fused && config.Architecture == "phi3" && model.FindTensor(p + "attn_q.weight") is null)
        {
            throw new LlmException(LlmErrorKind.MissingTensor,
                $"The model lacks the tensor {fusedName} (nor has it separate attn_q/attn_k/attn_v weights).", fusedName);
        }

        if (!fused)
        {
            return (loader.Matrix(p + "attn_q.weight", d, config.QueryWidth),
                loader.Matrix(p + "attn_k.weight", d, config.KvWidth),
                loader.Matrix(p + "attn_v.weight", d, config.KvWidth));
        }

        var qkv = loader.Matrix(fusedName, d, config.QueryWidth + (2L * config.KvWidth));
        return (qkv.RowSlice(0, config.QueryWidth, "Q"),
            qkv.RowSlice(config.QueryWidth, config.KvWidth, "K"),
            qkv.RowSlice(config.QueryWidth + config.KvWidth, config.KvWidth, "V"));
    }

    // Gate and up: phi3 stores both in ffn_up (gate rows first: ggml_swiglu takes silu of the first half); others apart.
    private static (WeightMatrix Gate, WeightMatrix Up) GateUp(Loader loader, ModelConfig config, string p)
    {
        var d = config.EmbeddingLength;
        var ff = config.FeedForwardLength;
        if (config.Architecture != "phi3")
        {
            return (loader.Matrix(p + "ffn_gate.weight", d, ff), loader.Matrix(p + "ffn_up.weight", d, ff));
        }

        var fused = loader.Matrix(p + "ffn_up.weight", d, 2L * ff);
        return (fused.RowSlice(0, ff, "gate"), fused.RowSlice(ff, ff, "up"));
    }

    // A mixture-of-experts layer (llama.cpp's llama, qwen2moe and qwen3moe loaders): the router ffn_gate_inp, one row
    // per expert, and the experts' gate, up and down stacked in 3-D tensors, each expert a view of its own; qwen2moe's
    // shared expert beside them.
    private static ExpertWeights Experts(Loader loader, ModelConfig config, string p)
    {
        var d = config.EmbeddingLength;
        var width = config.ExpertFeedForwardLength;
        var count = config.ExpertCount;
        var shared = config.SharedExpertFeedForwardLength;
        return new ExpertWeights(
            loader.Matrix(p + "ffn_gate_inp.weight", d, count),
            loader.Experts(p + "ffn_gate_exps.weight", d, width, count),
            loader.Experts(p + "ffn_up_exps.weight", d, width, count),
            loader.Experts(p + "ffn_down_exps.weight", width, d, count))
        {
            Shared = shared == 0 ? null : new SharedExpertWeights(
                loader.Matrix(p + "ffn_gate_inp_shexp.weight", d, 1),
                loader.Matrix(p + "ffn_gate_shexp.weight", d, shared),
                loader.Matrix(p + "ffn_up_shexp.weight", d, shared),
                loader.Matrix(p + "ffn_down_shexp.weight", shared, d)),
        };
    }

    private readonly struct Loader(GgufModel model)
    {
        // [columns, rows, count]: count matrices one after the other, as ggml lays out a 3-D tensor.
        public WeightMatrix[] Experts(string name, int columns, int rows, int count)
        {
            var tensor = model.FindTensor(name);
            if (tensor is null)
            {
                // Early Mixtral conversions (late 2023, early 2024) stored each expert apart: blk.N.ffn_gate.E.weight.
                var split = name.Replace("_exps.weight", ".0.weight", StringComparison.Ordinal);
                throw new LlmException(LlmErrorKind.MissingTensor, model.FindTensor(split) is null
                    ? $"The model lacks the tensor {name}."
                    : $"The model lacks the tensor {name}: it stores each expert as a tensor of its own ({split}, ...), an early " +
                      "layout that llama.cpp no longer loads either. Convert the model again with a current convert_hf_to_gguf.py.", name);
            }

            if (tensor.Shape.Count != 3 || tensor.Shape[0] != columns || tensor.Shape[1] != rows || tensor.Shape[2] != count)
            {
                throw new LlmException(LlmErrorKind.InvalidTensor,
                    $"The tensor {name} has shape [{string.Join(", ", tensor.Shape)}]; the metadata implies [{columns}, {rows}, {count}].", name);
            }

            var all = Checked(tensor, columns, (long)rows * count);
            return Enumerable.Range(0, count).Select(e => all.RowSlice(e * rows, rows, $"expert {e}")).ToArray();
        }

        public GgufTensorInfo Require(string name, long columns, long rows)
        {
            var tensor = model.FindTensor(name)
                ?? throw new LlmException(LlmErrorKind.MissingTensor, $"The model lacks the tensor {name}.", name);
            var rowsOk = rows == 1 ? tensor.Shape.Count == 1 || (tensor.Shape.Count == 2 && tensor.Shape[1] == 1) : tensor.Shape.Count == 2 && tensor.Shape[1] == rows;
            if (tensor.Shape.Count == 0 || tensor.Shape[0] != columns || !rowsOk)
            {
                var expected = rows == 1 ? $"[{columns}]" : $"[{columns}, {rows}]";
                throw new LlmException(LlmErrorKind.InvalidTensor,
                    $"The tensor {name} has shape [{string.Join(", ", tensor.Shape)}]; the metadata implies {expected}.", name);
            }

            return tensor;
        }

        public WeightMatrix Matrix(string name, int columns, long rows) => Checked(Require(name, columns, rows), columns, rows);

        // A tensor the kernels can multiply, as a matrix of rows x columns (rows in long: sums of widths may pass int).
        private WeightMatrix Checked(GgufTensorInfo tensor, int columns, long rows)
        {
            var name = tensor.Name;
            if (rows > int.MaxValue)
            {
                throw new LlmException(LlmErrorKind.InvalidTensor, $"The tensor {name} has {rows} rows, more than the kernels can address.", name);
            }

            if (!MatMulDriver.IsSupported(tensor.Type))
            {
                throw new LlmException(LlmErrorKind.InvalidTensor,
                    $"The tensor {name} is stored as {tensor.Type}, which has no matmul kernels yet.", name);
            }

            var info = tensor.TypeInfo;
            var activation = GgmlTypeTraits.Get(info.ActivationType);
            var multiple = Math.Max(info.BlockSize, activation.BlockSize);
            if (columns % multiple != 0)
            {
                throw new LlmException(LlmErrorKind.InvalidTensor,
                    $"The tensor {name} ({tensor.Type}) has rows of {columns} values, not a whole number of {multiple}-value blocks.", name);
            }

            return new WeightMatrix(name, tensor.Type, model.GetTensorPointer(tensor), columns, (int)rows);
        }

        public float* OptionalVector(string name, int length) =>
            model.FindTensor(name) is null ? null : Vector(name, length);

        public float* Vector(string name, int length)
        {
            var tensor = Require(name, length, 1);
            if (tensor.Type != GgmlType.F32)
            {
                throw new LlmException(LlmErrorKind.InvalidTensor,
                    $"The tensor {name} is stored as {tensor.Type}; norm and factor vectors must be F32.", name);
            }

            return (float*)model.GetTensorPointer(tensor);
        }
    }
}
