using System.Text;
using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.Quantization.Job;

/// <summary>One tensor of a plan: where it comes from and what it becomes.</summary>
public sealed record QuantizePlanTensor(
    string Name, IReadOnlyList<long> Shape, GgmlType SourceType, GgmlType Type, long SourceBytes, long SizeBytes,
    bool FellBack, bool UsesImportance, GgufTensorInfo Source)
{
    /// <summary>True when the bytes are recomputed (the type changes), false when copied as they are.</summary>
    public bool IsConverted => SourceType != Type;
}

/// <summary>
/// What llama-quantize would write for a model, decided before any byte is written: each tensor's
/// type (llama.cpp's rules, counters and fallbacks), the tensor order, the metadata and the exact size.
/// </summary>
public sealed class QuantizePlan
{
    /// <summary>ggml's GGML_QNT_VERSION, stored in general.quantization_version.</summary>
    public const uint QuantizationVersion = 2;

    private QuantizePlan(string inputPath, QuantizeFileType fileType, QuantizeOptions options, uint fileTypeId,
        IReadOnlyList<QuantizePlanTensor> tensors, IReadOnlyList<GgufMetadataEntry> metadata, GgufWritePlan layout,
        int fallbackCount, IReadOnlyDictionary<string, float[]>? importance)
    {
        InputPath = inputPath;
        FileType = fileType;
        Options = options;
        FileTypeId = fileTypeId;
        Tensors = tensors;
        Metadata = metadata;
        Layout = layout;
        FallbackCount = fallbackCount;
        Importance = importance;
    }

    public string InputPath { get; }

    public QuantizeFileType FileType { get; }

    public QuantizeOptions Options { get; }

    /// <summary>The general.file_type value written (the input's for COPY).</summary>
    public uint FileTypeId { get; }

    /// <summary>The output tensors in output order.</summary>
    public IReadOnlyList<QuantizePlanTensor> Tensors { get; }

    /// <summary>The output metadata in output order.</summary>
    public IReadOnlyList<GgufMetadataEntry> Metadata { get; }

    /// <summary>The serialized header and every offset of the output.</summary>
    public GgufWritePlan Layout { get; }

    /// <summary>The exact size of the output in bytes.</summary>
    public long PredictedSize => Layout.FileLength;

    /// <summary>Tensors whose rows did not fit the chosen block size (llama.cpp's "required fallback quantization").</summary>
    public int FallbackCount { get; }

    /// <summary>Set on dry-run plans that would need an importance matrix: why running them will refuse.</summary>
    public string? MissingImportance { get; private init; }

    /// <summary>The importance vectors in use (after include/exclude), or null.</summary>
    internal IReadOnlyDictionary<string, float[]>? Importance { get; }

    /// <summary>Plans quantizing <paramref name="model"/> to <paramref name="fileType"/>.</summary>
    /// <exception cref="QuantizationException">llama-quantize would refuse at planning (no fallback, importance matrix required).</exception>
    public static QuantizePlan Create(GgufModel model, QuantizeFileType fileType, QuantizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(fileType);
        options ??= new QuantizeOptions();
        var importance = FilterImportance(options);
        var facts = FactsOf(model);
        var ordered = model.Tensors.OrderBy(t => t, LoaderOrder.Instance).ToList();
        var rules = new QuantizeRules(facts, fileType, options, importance is not null, ordered.Select(t => t.Name));

        var tensors = new List<QuantizePlanTensor>(ordered.Count);
        string? missing = null;
        foreach (var t in ordered)
        {
            var target = t.Type;
            bool fellBack = false, allows = rules.AllowsQuantization(t.Name, DimsOf(t.Shape));
            if (allows)
            {
                target = rules.TypeFor(t.Name, t.Shape, t.Type, out fellBack);
            }

            bool usesImportance = false;
            if (target != t.Type && importance is not null && importance.TryGetValue(t.Name, out var vector))
            {
                long expected = t.Shape[0] * (t.Shape.Count > 2 ? t.Shape[2] : 1);
                if (vector.Length == expected) usesImportance = true;
                else if (t.Name is not ("token_embd.weight" or "per_layer_token_embd.weight"))
                {
                    throw new QuantizationException(QuantizationErrorIds.ImatrixSizeMismatch,
                        $"imatrix size {vector.Length} is different from tensor size {expected} for {t.Name}");
                }
            }

            if (allows && rules.RequiresImportance(t.Name, target) && (importance is null || (target != t.Type && !usesImportance)))
            {
                missing ??= $"{fileType.Name} requires an importance matrix: {t.Name} becomes {GgmlTypeTraits.Get(target).GgmlName}. " +
                    "Compute one with llama-imatrix and pass it (-ImportanceMatrix).";
                if (!options.DryRun)
                {
                    throw new QuantizationException(QuantizeErrorIds.ImportanceRequired, missing);
                }
            }

            var size = GgmlTypeTraits.Get(target).RowSizeBytes(t.RowLength) * t.RowCount;
            tensors.Add(new QuantizePlanTensor(t.Name, t.Shape, t.Type, target, t.SizeBytes, size, fellBack, usesImportance, t));
        }

        uint ftypeId = fileType.IsCopy ? CopyFileType(model) : fileType.Id;
        var metadata = BuildMetadata(model, ftypeId, options, importance);
        var layout = GgufLayout.Plan(metadata, tensors.Select(t => new GgufTensorSpec(t.Name, t.Type, t.Shape)).ToArray());
        return new QuantizePlan(model.Location, fileType, options, ftypeId, tensors, metadata, layout, rules.FallbackCount, importance) { MissingImportance = missing };
    }

    /// <summary>
    /// The checks llama-quantize makes only while converting (requantizing, types not implemented here,
    /// a tensor that needs importance data the matrix lacks);
    /// the job runs them before writing anything.
    /// </summary>
    public void ThrowIfNotRunnable()
    {
        if (MissingImportance is not null)
        {
            throw new QuantizationException(QuantizeErrorIds.ImportanceRequired, MissingImportance);
        }

        foreach (var t in Tensors.Where(t => t.IsConverted))
        {
            var source = GgmlTypeTraits.Get(t.SourceType);
            if (source.IsQuantized && !Options.AllowRequantize)
            {
                throw new QuantizationException(QuantizeErrorIds.RequantizeDisabled,
                    $"requantizing from type {source.GgmlName} is disabled: {t.Name} is already quantized. Use -AllowRequantize (quality suffers) or start from an F32/F16/BF16 model.");
            }

            if (t.SourceType is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16) && source.DequantizeReference is null)
            {
                throw new QuantizationException(QuantizeErrorIds.NotQuantizable,
                    $"{t.Name} is {source.Name}, which cannot be dequantized yet, so it cannot be converted.");
            }

            if (!TypeQuantizer.IsSupported(t.Type))
            {
                throw new QuantizationException(QuantizeErrorIds.TypeNotSupported,
                    $"{FileType.Name}: quantizing to {GgmlTypeTraits.Get(t.Type).Name} ({t.Name}) is not yet supported.");
            }

            // ggml cannot make these types without importance data; llama-quantize aborts mid-file here.
            if (TypeQuantizer.RequiresImportance(t.Type) && !t.UsesImportance)
            {
                throw new QuantizationException(QuantizeErrorIds.ImportanceRequired,
                    $"{t.Name} becomes {GgmlTypeTraits.Get(t.Type).GgmlName}, which needs importance data, and the importance matrix has none for it. " +
                    "Choose another type for it (-TensorType, -OutputTensorType, -TokenEmbeddingType).");
            }
        }
    }

    internal static int DimsOf(IReadOnlyList<long> shape)
    {
        int n = shape.Count;
        while (n > 1 && shape[n - 1] == 1) n--; // ggml_n_dims ignores trailing 1s
        return Math.Max(n, 1);
    }

    private static uint CopyFileType(GgufModel model)
    {
        var (id, guessed) = LlamaFileTypes.Determine(model.Metadata, model.Tensors);
        return guessed ? id | 1024u : id; // LLAMA_FTYPE_GUESSED
    }

    private static ModelFacts FactsOf(GgufModel model)
    {
        var arch = model.Metadata.GetString("general.architecture") ?? "";
        int First(string key, int fallback)
        {
            var value = model.Metadata.GetValueOrDefault($"{arch}.{key}");
            if (value is GgufArray a) value = a.Count > 0 ? a[0] : null;
            return value is null ? fallback : Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture);
        }

        int layers = First("block_count", 0), heads = First("attention.head_count", 0);
        int kvHeads = First("attention.head_count_kv", heads);
        int gqa = kvHeads == 0 ? 0 : heads / kvHeads;
        // LLM_TYPE_70B is how llama.cpp names 80-layer llamas; only that size bumps attn_v.
        return new ModelFacts(arch, layers, gqa, First("expert_count", 0), arch == "llama" && layers == 80);
    }

    private static IReadOnlyDictionary<string, float[]>? FilterImportance(QuantizeOptions options)
    {
        if (options.IncludeWeights.Count > 0 && options.ExcludeWeights.Count > 0)
        {
            throw new QuantizationException(QuantizeErrorIds.BadOverride, "Use -IncludeWeights or -ExcludeWeights, not both (llama-quantize refuses the pair too).");
        }

        if (options.ImportanceMatrix is not { } matrix) return null;
        IEnumerable<KeyValuePair<string, float[]>> entries = matrix.Values;
        if (options.ExcludeWeights.Count > 0)
            entries = entries.Where(e => !options.ExcludeWeights.Any(x => e.Key.Contains(x, StringComparison.Ordinal)));
        if (options.IncludeWeights.Count > 0)
            entries = entries.Where(e => options.IncludeWeights.Any(x => e.Key.Contains(x, StringComparison.Ordinal)));
        var result = entries.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        return result.Count == 0 ? null : result; // llama-quantize drops an emptied matrix entirely
    }

    // Mirrors llama_model_quantize_impl + quantize.cpp: input KVs, then the two file-type keys
    // (set = remove + append), split keys removed, then --override-kv and the imatrix keys.
    private static List<GgufMetadataEntry> BuildMetadata(GgufModel model, uint ftype, QuantizeOptions options, IReadOnlyDictionary<string, float[]>? importance)
    {
        var list = model.Metadata.ToList();
        void Set(GgufMetadataEntry e)
        {
            list.RemoveAll(x => x.Key == e.Key);
            list.Add(e);
        }

        Set(GgufMetadataEntry.Of("general.quantization_version", QuantizationVersion));
        Set(GgufMetadataEntry.Of("general.file_type", ftype));
        list.RemoveAll(x => x.Key is "split.no" or "split.count" or "split.tensors.count");
        foreach (var o in options.OverrideMetadata) Set(o);
        if (importance is not null)
        {
            var matrix = options.ImportanceMatrix!;
            Set(GgufMetadataEntry.Of("quantize.imatrix.file", Truncate127(options.ImportanceMatrixPath ?? matrix.Path)));
            if (matrix.Datasets.Count > 0) Set(GgufMetadataEntry.Of("quantize.imatrix.dataset", Truncate127(matrix.Datasets[0])));
            Set(GgufMetadataEntry.Of("quantize.imatrix.entries_count", (uint)importance.Count));
            if (matrix.ChunkCount > 0) Set(GgufMetadataEntry.Of("quantize.imatrix.chunks_count", (uint)matrix.ChunkCount));
        }

        return list;
    }

    // llama-quantize copies these strings into 128-byte buffers.
    private static string Truncate127(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        return bytes.Length <= 127 ? s : Encoding.UTF8.GetString(bytes, 0, 127);
    }

    /// <summary>llama_model_loader's weight order: by layer number (non-layer tensors first), then by name.</summary>
    private sealed class LoaderOrder : IComparer<GgufTensorInfo>
    {
        public static readonly LoaderOrder Instance = new();

        public int Compare(GgufTensorInfo? a, GgufTensorInfo? b)
        {
            int la = LayerOf(a!.Name), lb = LayerOf(b!.Name);
            return la != lb ? la.CompareTo(lb) : string.CompareOrdinal(a.Name, b.Name);
        }

        private static int LayerOf(string name)
        {
            if (!name.StartsWith("blk.", StringComparison.Ordinal)) return -1;
            int i = 4, sign = 1;
            if (i < name.Length && (name[i] == '-' || name[i] == '+')) { sign = name[i] == '-' ? -1 : 1; i++; }
            int start = i;
            long v = 0;
            while (i < name.Length && char.IsAsciiDigit(name[i])) { v = v * 10 + (name[i] - '0'); i++; }
            return i == start ? -1 : (int)(sign * v);
        }
    }
}
