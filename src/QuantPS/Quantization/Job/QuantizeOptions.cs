using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.Quantization.Job;

/// <summary>llama-quantize's options, one property per flag.</summary>
public sealed record QuantizeOptions
{
    /// <summary>--pure: every quantizable weight gets the default type (still subject to fallbacks).</summary>
    public bool Pure { get; init; }

    /// <summary>--leave-output-tensor: output.weight is copied unquantized.</summary>
    public bool LeaveOutputTensor { get; init; }

    /// <summary>--output-tensor-type.</summary>
    public GgmlType? OutputTensorType { get; init; }

    /// <summary>--token-embedding-type.</summary>
    public GgmlType? TokenEmbeddingType { get; init; }

    /// <summary>--tensor-type pattern=type, in order; the first pattern found in a name wins (regex search).</summary>
    public IReadOnlyList<KeyValuePair<string, GgmlType>> TensorTypes { get; init; } = Array.Empty<KeyValuePair<string, GgmlType>>();

    /// <summary>--imatrix: the loaded matrix.</summary>
    public ImportanceMatrix? ImportanceMatrix { get; init; }

    /// <summary>The imatrix path as the user gave it; recorded in quantize.imatrix.file (default: the loaded path).</summary>
    public string? ImportanceMatrixPath { get; init; }

    /// <summary>--include-weights: keep only imatrix entries whose name contains one of these.</summary>
    public IReadOnlyList<string> IncludeWeights { get; init; } = Array.Empty<string>();

    /// <summary>--exclude-weights: drop imatrix entries whose name contains one of these.</summary>
    public IReadOnlyList<string> ExcludeWeights { get; init; } = Array.Empty<string>();

    /// <summary>--allow-requantize: quantized inputs are dequantized first.</summary>
    public bool AllowRequantize { get; init; }

    /// <summary>--override-kv: set after the file type keys, in order (an existing key moves to the end).</summary>
    public IReadOnlyList<GgufMetadataEntry> OverrideMetadata { get; init; } = Array.Empty<GgufMetadataEntry>();

    /// <summary>
    /// --keep-split: a split input is written as the same number of shards, each tensor in the shard it
    /// came from (tensors ordered by shard and offset, as llama-quantize does).
    /// </summary>
    public bool KeepSplit { get; init; }

    /// <summary>
    /// --prune-layers: these layers (blk.N) are left out and the rest renumbered from 0; block_count is
    /// set to the number kept. Order and repeats do not matter.
    /// </summary>
    public IReadOnlyList<int> PruneLayers { get; init; } = Array.Empty<int>();

    /// <summary>Worker threads; 0 = all cores. The bytes do not depend on it.</summary>
    public int Threads { get; init; }

    /// <summary>
    /// --dry-run: plan even when an importance matrix is required and missing (the plan records it in
    /// <see cref="QuantizePlan.MissingImportance"/>; running it still refuses).
    /// </summary>
    public bool DryRun { get; init; }

    /// <summary>Re-read the finished file and check header, tensor table and size before it is moved into place.</summary>
    public bool Verify { get; init; } = true;
}
