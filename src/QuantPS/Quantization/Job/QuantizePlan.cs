using System.Text;
using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.Quantization.Job;

/// <summary>One tensor of a plan: where it comes from and what it becomes.</summary>
public sealed record QuantizePlanTensor(
    string Name, IReadOnlyList<long> Shape, GgmlType SourceType, GgmlType Type, long SourceBytes, long SizeBytes,
    bool FellBack, bool UsesImportance, GgufTensorInfo Source)
{
    /// <summary>The output file (0-based shard) this tensor goes to; 0 unless -KeepSplit.</summary>
    public int Shard { get; init; }

    /// <summary>The name of this tensor in the input (differs from <see cref="Name"/> when layers are pruned).</summary>
    public string SourceName => Source.Name;

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
        IReadOnlyList<QuantizePlanTensor> tensors, IReadOnlyList<QuantizePlanOutput> outputs,
        int fallbackCount, IReadOnlyDictionary<string, float[]>? importance)
    {
        InputPath = inputPath;
        FileType = fileType;
        Options = options;
        FileTypeId = fileTypeId;
        Tensors = tensors;
        Outputs = outputs;
        FallbackCount = fallbackCount;
        Importance = importance;
    }

    public string InputPath { get; }

    public QuantizeFileType FileType { get; }

    public QuantizeOptions Options { get; }

    /// <summary>The general.file_type value written (the input's for COPY).</summary>
    public uint FileTypeId { get; }

    /// <summary>The output tensors in output order (over all output files).</summary>
    public IReadOnlyList<QuantizePlanTensor> Tensors { get; }

    /// <summary>The files written: one, or with -KeepSplit one per input shard.</summary>
    public IReadOnlyList<QuantizePlanOutput> Outputs { get; }

    /// <summary>The metadata of the (first) output file in output order.</summary>
    public IReadOnlyList<GgufMetadataEntry> Metadata => Outputs[0].Metadata;

    /// <summary>The serialized header and every offset of the (first) output file.</summary>
    public GgufWritePlan Layout => Outputs[0].Layout;

    /// <summary>The exact size of the output in bytes (all files together).</summary>
    public long PredictedSize => Outputs.Sum(o => o.SizeBytes);

    /// <summary>
    /// The file names written for <paramref name="outputPath"/>: the path itself, or with -KeepSplit
    /// llama.cpp's shard names (&lt;path without .gguf&gt;-00001-of-0000N.gguf), even for one shard.
    /// </summary>
    public IReadOnlyList<string> OutputPathsFor(string outputPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if (!Options.KeepSplit) return [outputPath];
        var prefix = outputPath.EndsWith(".gguf", StringComparison.Ordinal) ? outputPath[..^5] : outputPath;
        return Outputs.Select(o => GgufSplit.ShardName(prefix, o.Index + 1, Outputs.Count)).ToArray();
    }

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
        var prune = LayerPruning.Normalize(options.PruneLayers, facts.LayerCount);
        var kept = LayerPruning.Apply(model.Tensors.OrderBy(t => t, LoaderOrder.Instance).ToList(), prune, out int keptLayers);
        if (options.KeepSplit)
        {
            // Shards are written one after the other, so tensors go in input order (shard, offset).
            kept = kept.OrderBy(k => k.Tensor.Shard).ThenBy(k => k.Tensor.Offset).ToList();
        }

        var rules = new QuantizeRules(facts, fileType, options, importance is not null, kept.Select(k => k.Name));
        var tensors = new List<QuantizePlanTensor>(kept.Count);
        string? missing = null;
        foreach (var (t, name) in kept)
        {
            var target = t.Type;
            bool fellBack = false, allows = rules.AllowsQuantization(name, DimsOf(t.Shape));
            if (allows)
            {
                target = rules.TypeFor(name, t.Shape, t.Type, out fellBack);
            }

            // The importance of a renumbered layer is the one of its original layer (llama.cpp's remap_imatrix).
            bool usesImportance = false;
            if (target != t.Type && importance is not null && importance.TryGetValue(t.Name, out var vector))
            {
                long expected = t.Shape[0] * (t.Shape.Count > 2 ? t.Shape[2] : 1);
                if (vector.Length == expected) usesImportance = true;
                else if (name is not ("token_embd.weight" or "per_layer_token_embd.weight"))
                {
                    throw new QuantizationException(QuantizationErrorIds.ImatrixSizeMismatch,
                        $"imatrix size {vector.Length} is different from tensor size {expected} for {name}");
                }
            }

            if (allows && rules.RequiresImportance(name, target) && (importance is null || (target != t.Type && !usesImportance)))
            {
                missing ??= $"{fileType.Name} requires an importance matrix: {name} becomes {GgmlTypeTraits.Get(target).GgmlName}. " +
                    "Compute one with llama-imatrix and pass it (-ImportanceMatrix).";
                if (!options.DryRun)
                {
                    throw new QuantizationException(QuantizeErrorIds.ImportanceRequired, missing);
                }
            }

            var size = GgmlTypeTraits.Get(target).RowSizeBytes(t.RowLength) * t.RowCount;
            tensors.Add(new QuantizePlanTensor(name, t.Shape, t.Type, target, t.SizeBytes, size, fellBack, usesImportance, t)
            {
                Shard = options.KeepSplit ? t.Shard : 0,
            });
        }

        uint ftypeId = fileType.IsCopy ? CopyFileType(model) : fileType.Id;
        var metadata = BuildMetadata(model, ftypeId, options, importance);
        if (prune.Count > 0)
        {
            SetMetadata(metadata, GgufMetadataEntry.Of($"{facts.Architecture}.block_count", (uint)keptLayers));
        }

        var outputs = QuantizePlanOutput.Assemble(metadata, tensors);
        return new QuantizePlan(model.Location, fileType, options, ftypeId, tensors, outputs, rules.FallbackCount, importance) { MissingImportance = missing };
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
        void Set(GgufMetadataEntry e) => SetMetadata(list, e);

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

    // gguf_set_val_*: an existing key is removed and the new value appended.
    internal static void SetMetadata(List<GgufMetadataEntry> list, GgufMetadataEntry entry)
    {
        list.RemoveAll(x => x.Key == entry.Key);
        list.Add(entry);
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
