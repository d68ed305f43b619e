using System.Collections.Specialized;

namespace QuantPS.Gguf;

/// <summary>
/// The summary of a model that Get-GgufInfo returns: what it is, how big, how it is shaped.
/// Built from the headers alone, so it is the same for a local, split or remote model.
/// </summary>
public sealed class GgufModelInfo
{
    private GgufModelInfo(GgufModel model)
    {
        var metadata = model.Metadata;
        var (fileType, guessed) = LlamaFileTypes.Determine(metadata, model.Tensors);
        Architecture = metadata.GetString("general.architecture");
        var arch = Architecture ?? string.Empty;

        Path = model.Location;
        Name = metadata.GetString("general.name");
        GgufVersion = model.Header.Version;
        FileType = LlamaFileTypes.NameOf(fileType) ?? $"unknown ({fileType})";
        FileTypeDescription = (guessed ? "(guessed) " : string.Empty) + LlamaFileTypes.DescriptionOf(fileType);
        ParameterCount = model.Tensors.Sum(t => t.ElementCount);
        ExpertCount = metadata.GetInteger(arch + ".expert_count") is > 0 and var experts ? experts : null;
        ExpertUsedCount = ExpertCount is null ? null : metadata.GetInteger(arch + ".expert_used_count");
        ActiveParameterCount = ActiveParameters(model.Tensors, ExpertUsedCount ?? 0) ?? ParameterCount;
        SizeBytes = model.FileLength;
        TensorBytes = model.TensorBytes;
        BitsPerWeight = ParameterCount == 0 ? 0 : Math.Round(TensorBytes * 8.0 / ParameterCount, 4);
        ContextLength = metadata.GetInteger(arch + ".context_length");
        EmbeddingLength = metadata.GetInteger(arch + ".embedding_length");
        BlockCount = metadata.GetInteger(arch + ".block_count");
        HeadCount = IntegerOrLargest(metadata, arch + ".attention.head_count");
        HeadCountKv = IntegerOrLargest(metadata, arch + ".attention.head_count_kv") ?? HeadCount;
        VocabularySize = metadata.GetInteger(arch + ".vocab_size") ?? metadata.GetArray("tokenizer.ggml.tokens")?.Count;
        TokenizerModel = metadata.GetString("tokenizer.ggml.model");
        ShardCount = model.Shards.Count;
        TensorCount = model.Tensors.Count;
        Alignment = model.Header.Alignment;
        Tensors = model.Tensors.ToArray();
        Metadata = new OrderedDictionary(StringComparer.Ordinal);
        foreach (var entry in metadata)
        {
            Metadata.Add(entry.Key, entry.Value);
        }
    }

    /// <summary>The first shard's full path, or the URL.</summary>
    public string Path { get; }

    public string? Architecture { get; }

    public string? Name { get; }

    public uint GgufVersion { get; }

    /// <summary>llama-quantize's name for the file type, e.g. Q4_K_M (from general.file_type, else guessed as llama.cpp does).</summary>
    public string FileType { get; }

    /// <summary>llama.cpp's description, e.g. "Q4_K - Medium", prefixed "(guessed)" when derived from tensor types.</summary>
    public string FileTypeDescription { get; }

    /// <summary>Elements in all tensors (llama.cpp's "model params").</summary>
    public long ParameterCount { get; }

    /// <summary>Experts per layer of a mixture-of-experts model (&lt;arch&gt;.expert_count), or null for a dense one.</summary>
    public long? ExpertCount { get; }

    /// <summary>Experts each token runs through (&lt;arch&gt;.expert_used_count), or null for a dense model.</summary>
    public long? ExpertUsedCount { get; }

    /// <summary>
    /// The parameters one token runs through: <see cref="ParameterCount"/> less the unused experts' share of the 3-D
    /// expert tensors (the "A3B" of Qwen3-30B-A3B); the embedding table counts whole, as in the published figures.
    /// Equal to ParameterCount for a dense model.
    /// </summary>
    public long ActiveParameterCount { get; }

    /// <summary>Bytes of all the model's files.</summary>
    public long SizeBytes { get; }

    /// <summary>Bytes of tensor data (what llama.cpp reports as the model size).</summary>
    public long TensorBytes { get; }

    /// <summary>TensorBytes × 8 / ParameterCount, as llama.cpp prints BPW.</summary>
    public double BitsPerWeight { get; }

    public long? ContextLength { get; }

    public long? EmbeddingLength { get; }

    public long? BlockCount { get; }

    public long? HeadCount { get; }

    public long? HeadCountKv { get; }

    public long? VocabularySize { get; }

    public string? TokenizerModel { get; }

    public int ShardCount { get; }

    public int TensorCount { get; }

    public uint Alignment { get; }

    /// <summary>Every metadata key in file order; arrays are <see cref="GgufArray"/> values.</summary>
    public OrderedDictionary Metadata { get; }

    public GgufTensorInfo[] Tensors { get; }

    public static GgufModelInfo From(GgufModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new GgufModelInfo(model);
    }

    public override string ToString() => $"{Name ?? System.IO.Path.GetFileName(Path)} ({Architecture}, {FileType})";

    // Expert tensors are the 3-D ones ([columns, rows, experts], llama.cpp's *_exps): used / experts of each counts.
    private static long? ActiveParameters(IReadOnlyList<GgufTensorInfo> tensors, long used)
    {
        if (used <= 0)
        {
            return null;
        }

        long active = 0;
        foreach (var tensor in tensors)
        {
            var experts = tensor.Shape.Count == 3 && tensor.Name.Contains("_exps.", StringComparison.Ordinal) ? tensor.Shape[2] : 0;
            active += experts > used ? tensor.ElementCount / experts * used : tensor.ElementCount;
        }

        return active;
    }

    /// <summary>Some architectures store a per-layer array of head counts; the summary shows the largest.</summary>
    private static long? IntegerOrLargest(GgufMetadata metadata, string key)
    {
        if (metadata.GetInteger(key) is { } single)
        {
            return single;
        }

        var array = metadata.GetArray(key);
        if (array is null || array.Count == 0)
        {
            return null;
        }

        return array.Select(v => v is IConvertible c ? c.ToInt64(null) : 0L).Max();
    }
}
