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

    /// <summary>Y (m rows of <see cref="Rows"/>) = X (m rows of <see cref="Columns"/>) times this matrix transposed.</summary>
    public void Multiply(float* x, int m, float* y, MatMulWorkspace workspace) =>
        MatMulDriver.Multiply(Type, Data, Columns, Rows, x, m, y, workspace);
}

/// <summary>The weights of one transformer block.</summary>
public sealed unsafe class LayerWeights
{
    public required float* AttentionNorm { get; init; }

    public required WeightMatrix Query { get; init; }

    public required WeightMatrix Key { get; init; }

    public required WeightMatrix Value { get; init; }

    public required WeightMatrix Output { get; init; }

    public required float* FeedForwardNorm { get; init; }

    public required WeightMatrix Gate { get; init; }

    public required WeightMatrix Up { get; init; }

    public required WeightMatrix Down { get; init; }

    /// <summary>Optional biases added after the Q, K, V and output projections (qwen2; optional in llama); null when absent.</summary>
    public float* QueryBias { get; init; }

    public float* KeyBias { get; init; }

    public float* ValueBias { get; init; }

    public float* OutputBias { get; init; }

    /// <summary>qwen3's per-head RMS norm weights of Q and K (one head's width); null for other architectures.</summary>
    public float* QueryNorm { get; init; }

    public float* KeyNorm { get; init; }
}

/// <summary>
/// Every weight of a llama-family model (llama, qwen2, qwen3) as views into the memory-mapped GGUF (never copied), checked
/// once at load against the configuration: shapes, and types the kernels can multiply.
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

    /// <summary>output.bias (qwen2 may have one), or null.</summary>
    public float* OutputBias { get; }

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

        var output = model.FindTensor("output.weight") is not null
            ? loader.Matrix("output.weight", d, config.VocabularySize)
            : loader.Matrix("token_embd.weight", d, config.VocabularySize);

        var layers = new LayerWeights[config.LayerCount];
        for (var i = 0; i < layers.Length; i++)
        {
            var p = $"blk.{i}.";
            layers[i] = new LayerWeights
            {
                AttentionNorm = loader.Vector(p + "attn_norm.weight", d),
                Query = loader.Matrix(p + "attn_q.weight", d, config.QueryWidth),
                Key = loader.Matrix(p + "attn_k.weight", d, config.KvWidth),
                Value = loader.Matrix(p + "attn_v.weight", d, config.KvWidth),
                Output = loader.Matrix(p + "attn_output.weight", config.QueryWidth, d),
                FeedForwardNorm = loader.Vector(p + "ffn_norm.weight", d),
                Gate = loader.Matrix(p + "ffn_gate.weight", d, config.FeedForwardLength),
                Up = loader.Matrix(p + "ffn_up.weight", d, config.FeedForwardLength),
                Down = loader.Matrix(p + "ffn_down.weight", config.FeedForwardLength, d),
                QueryBias = loader.OptionalVector(p + "attn_q.bias", config.QueryWidth),
                KeyBias = loader.OptionalVector(p + "attn_k.bias", config.KvWidth),
                ValueBias = loader.OptionalVector(p + "attn_v.bias", config.KvWidth),
                OutputBias = loader.OptionalVector(p + "attn_output.bias", d),
                QueryNorm = config.Architecture == "qwen3" ? loader.Vector(p + "attn_q_norm.weight", config.HeadDimension) : null,
                KeyNorm = config.Architecture == "qwen3" ? loader.Vector(p + "attn_k_norm.weight", config.HeadDimension) : null,
            };
        }

        // As llama.cpp's llama loader: a longrope model has long/short factors instead of rope_freqs (all optional).
        var pairs = config.RopeDimensions / 2;
        var longRope = config.RopeScaling == RopeScaling.LongRope;
        var ropeFreqs = longRope ? null : loader.OptionalVector("rope_freqs.weight", pairs);
        var outputBias = loader.OptionalVector("output.bias", config.VocabularySize);
        return new ModelWeights(embedding, model.GetTensorPointer(embedding), loader.Vector("output_norm.weight", d), output, outputBias, layers, ropeFreqs)
        {
            RopeFactorsLong = longRope ? loader.OptionalVector("rope_factors_long.weight", pairs) : null,
            RopeFactorsShort = longRope ? loader.OptionalVector("rope_factors_short.weight", pairs) : null,
        };
    }

    private readonly struct Loader(GgufModel model)
    {
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

        public WeightMatrix Matrix(string name, int columns, int rows)
        {
            var tensor = Require(name, columns, rows);
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

            return new WeightMatrix(name, tensor.Type, model.GetTensorPointer(tensor), columns, rows);
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
