namespace QuantPS.Generators.Model;

/// <summary>The kinds of field the declaration language knows, one per attribute class.</summary>
internal enum FieldKind
{
    Element,
    Scale,
    Min,
    Sum,
    Quants,
    HighBits,
    SubScales,
    GroupSums,
    Signs,
    GridIndex,
    Trits,
    Packed,
}

/// <summary>
/// One field as declared (kind, bit width, count, format...) and as laid out (C# storage type,
/// fixed-buffer length, bytes). Kernel emitters read the declared half; the struct emitter the other.
/// </summary>
internal sealed record FieldModel(
    string Name,
    FieldKind Kind,
    string Format,
    int Bits,
    int Count,
    bool Signed,
    bool WithMins,
    int ValuesPerIndex,
    int PerByte,
    string? Lookup,
    string Order,
    string StorageType,
    int BufferLength,
    int Bytes,
    int ValuesCarried,
    LocationInfo? Location)
{
    /// <summary>A scalar field is a plain C# field; the others are fixed buffers.</summary>
    public bool IsScalar => BufferLength == 0;

    /// <summary>Added to each decoded item (<c>[SubScales(Offset = ...)]</c>); 0 elsewhere.</summary>
    public int ValueOffset { get; init; }
}

/// <summary>
/// Everything the generator needs about one <c>[GgmlBlock]</c> struct, as plain equatable data:
/// no symbols or syntax, so unrelated edits leave it equal and downstream steps cached.
/// </summary>
internal sealed record BlockModel(
    string Namespace,
    string StructName,
    uint Id,
    string Name,
    string GgmlName,
    int BlockSize,
    int TypeSize,
    bool IsQuantized,
    EquatableArray<FieldModel> Fields,
    KernelSpec? Kernel,
    LocationInfo? Location,
    bool HeaderIsValid,
    bool CanEmitStruct,
    EquatableArray<DiagnosticInfo> Diagnostics)
{
    public string FullStructName => Namespace.Length == 0 ? StructName : Namespace + "." + StructName;
}

/// <summary>One <c>[RetiredGgmlType]</c> entry.</summary>
internal sealed record RetiredModel(uint Id, string Name, LocationInfo? Location, EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>One row of the traits table: only what the table emits, so field edits do not re-emit it.</summary>
internal sealed record TypeEntry(uint Id, string Name, string GgmlName, int BlockSize, int TypeSize, bool IsQuantized, string StructFullName, KernelSummary? Kernels);

/// <summary>One retired id as the table emits it.</summary>
internal sealed record RetiredEntry(uint Id, string Name);

/// <summary>The live types and retired ids that make up the emitted traits table, with cross-type diagnostics.</summary>
internal sealed record TypeTableModel(
    EquatableArray<TypeEntry> Types,
    EquatableArray<RetiredEntry> Retired,
    EquatableArray<DiagnosticInfo> Diagnostics);
