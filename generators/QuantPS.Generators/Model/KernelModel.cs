using System.Linq;

namespace QuantPS.Generators.Model;

/// <summary>
/// The kernel half of one description as declared: <c>[Reconstruct]</c>, <c>[Activation]</c> and
/// <c>[ActivationQuantizer]</c>, each with where it was written (for diagnostics). Null members were not declared.
/// </summary>
internal sealed record KernelSpec(
    string? Scheme,
    int Offset,
    LocationInfo? ReconstructLocation,
    string? Activation,
    LocationInfo? ActivationLocation,
    string? QuantizerRule,
    LocationInfo? QuantizerLocation)
{
    /// <summary><c>[Reconstruct(Multiplier = ...)]</c> (grid scheme).</summary>
    public double Multiplier { get; init; } = 1.0;

    /// <summary><c>[Reconstruct(Delta = ...)]</c> (grid scheme).</summary>
    public double Delta { get; init; }

    /// <summary>The <c>[Bits]</c> parts, in declaration order.</summary>
    public EquatableArray<BitsSpec> Bits { get; init; } = EquatableArray<BitsSpec>.Empty;
}

/// <summary>One <c>[Bits]</c> as declared: which part it reads, from which field by name.</summary>
internal sealed record BitsSpec(string Role, string Field, int Bits, int Start, int Step, int Run, int RunStep, int Per, string? Table, LocationInfo? Location);

/// <summary>One <c>[Grid]</c> table.</summary>
internal sealed record GridTableModel(string Name, int ValuesPerEntry, bool Signed, EquatableArray<ulong> Entries, LocationInfo? Location);

/// <summary>
/// A <c>[Bits]</c> part resolved for kernels: item n is <c>Bits</c> bits at block bit
/// <c>Start + (n / Run) * RunStep + (n % Run) * Step</c>; it covers <c>Per</c> values.
/// </summary>
internal sealed record BitSlice(string Role, int Start, int Bits, int Step, int Run, int RunStep, int Per, int Count)
{
    public int Position(int n) => Start + ((n / Run) * RunStep) + ((n % Run) * Step);
}

/// <summary>
/// The checked grid description of a <c>ValueScheme.Grid</c> type: the grid's bytes (value j of entry e at byte
/// <c>e * ValuesPerEntry + j</c>), the sign table's masks where patterns are used, the parts, and the power-of-two
/// factors: <c>x = d * (2 s + 1) * 2^Log2Multiplier * sign * (g + deltaSign * 2^Log2Delta)</c>.
/// </summary>
internal sealed record GridModel(
    EquatableArray<byte> Grid,
    int ValuesPerEntry,
    bool Signed,
    EquatableArray<byte> SignMasks,
    EquatableArray<BitSlice> Slices,
    int Log2Multiplier,
    bool HasDelta,
    int Log2Delta)
{
    public EquatableArray<BitSlice> Of(string role) => Slices.Where(slice => slice.Role == role).ToEquatableArray();

    public BitSlice? One(string role) => Slices.FirstOrDefault(slice => slice.Role == role);

    /// <summary>Weights as the integer kernels use them: <c>g / delta ± 1</c> with a delta, else <c>± g</c>; scaled back by this power of two.</summary>
    public int WeightLog2 => Log2Multiplier + (HasDelta ? Log2Delta : 0);
}

/// <summary>One <c>[Codebook]</c> entry.</summary>
internal sealed record CodebookModel(string Name, EquatableArray<int> Values, double Multiplier, LocationInfo? Location);

/// <summary>
/// A field as the kernels see it: kind and encoding plus its byte offset in the block. No field name,
/// so renaming a field re-emits the struct but not the kernels.
/// </summary>
internal sealed record KernelField(FieldKind Kind, string Format, int Bits, int Count, bool Signed, string Order, int Offset, int Bytes, bool WithMins = false, int ValueOffset = 0);

/// <summary>A block's layout for kernels: the type's own, or the activation type it is paired with.</summary>
internal sealed record LayoutModel(string Name, int BlockSize, int TypeSize, EquatableArray<KernelField> Fields)
{
    public KernelField? Find(FieldKind kind)
    {
        foreach (var field in Fields)
        {
            if (field.Kind == kind)
            {
                return field;
            }
        }

        return null;
    }

    public int CountOf(FieldKind kind)
    {
        var count = 0;
        foreach (var field in Fields)
        {
            count += field.Kind == kind ? 1 : 0;
        }

        return count;
    }
}

/// <summary>
/// Everything one type's kernel class is emitted from, already checked: the families named here
/// accepted it. Plain data, so an unchanged description leaves its kernel file cached.
/// </summary>
internal sealed record KernelModel(
    string Name,
    LayoutModel Layout,
    string Scheme,
    int Offset,
    EquatableArray<int> Codebook,
    int CodebookLog2Multiplier,
    LayoutModel? Activation,
    string? QuantizerRule,
    string? WeightFamily,
    string? QuantizerFamily)
{
    /// <summary>The grid description of a <c>ValueScheme.Grid</c> type; null for the others.</summary>
    public GridModel? Grid { get; init; }

    public string ClassName => Name + "Kernels";

    public bool HasDequantize => WeightFamily is not null;

    public bool HasDot => WeightFamily is not null && Activation is not null;

    public bool HasQuantizer => QuantizerFamily is not null;
}

/// <summary>What the type table needs to know about one type's kernels.</summary>
internal sealed record KernelSummary(string Name, string ActivationName, string ClassName, bool HasDequantize, bool HasDot, bool HasQuantizer, bool HasIntegers)
{
    /// <summary>The smallest and largest integer DecodeIntegers can give (with <see cref="HasIntegers"/>).</summary>
    public int IntegerMin { get; init; }

    public int IntegerMax { get; init; }

    /// <summary>Sub-block mins per block of DecodeSubScaled (0: none); null when the type has no DecodeSubScaled.</summary>
    public int? SubScaledMins { get; init; }

    /// <summary>The largest value DecodeSubBlocks gives; null when the type has no DecodeSubBlocks.</summary>
    public int? SubBlockQuantMax { get; init; }

    /// <summary>True when the type has DotPrepared and PrepareActivation.</summary>
    public bool HasPreparedDot { get; init; }
}

/// <summary>The checked kernels of every description, and what was wrong with the rest.</summary>
internal sealed record KernelPlan(
    EquatableArray<KernelModel> Kernels,
    EquatableArray<KernelSummary> Summaries,
    EquatableArray<DiagnosticInfo> Diagnostics);
