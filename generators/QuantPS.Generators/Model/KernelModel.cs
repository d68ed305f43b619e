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
    LocationInfo? QuantizerLocation);

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
    public string ClassName => Name + "Kernels";

    public bool HasDequantize => WeightFamily is not null;

    public bool HasDot => WeightFamily is not null && Activation is not null;

    public bool HasQuantizer => QuantizerFamily is not null;
}

/// <summary>What the type table needs to know about one type's kernels.</summary>
internal sealed record KernelSummary(string Name, string ActivationName, string ClassName, bool HasDequantize, bool HasDot, bool HasQuantizer);

/// <summary>The checked kernels of every description, and what was wrong with the rest.</summary>
internal sealed record KernelPlan(
    EquatableArray<KernelModel> Kernels,
    EquatableArray<KernelSummary> Summaries,
    EquatableArray<DiagnosticInfo> Diagnostics);
