namespace QuantPS.Kernels.Formats;

/// <summary>
/// Declares a GGML tensor type on a <c>partial struct</c>. The struct's field attributes
/// (<see cref="BlockFieldAttribute"/> subclasses, in declaration order) describe one block;
/// the generator lays the struct out from them, computes its byte size, checks it against
/// <paramref name="typeSize"/> and adds the type to <see cref="GgmlTypeTraits"/>.
/// </summary>
/// <param name="id">The wire id (ggml_type) stored in GGUF files.</param>
/// <param name="name">The enum member name, e.g. <c>Q4_K</c>.</param>
/// <param name="ggmlName">ggml's type name, e.g. <c>q4_K</c>.</param>
/// <param name="blockSize">Values per block; 1 for plain element types.</param>
/// <param name="typeSize">Bytes per block, as ggml declares it.</param>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class GgmlBlockAttribute(uint id, string name, string ggmlName, int blockSize, int typeSize) : Attribute
{
    public uint Id { get; } = id;
    public string Name { get; } = name;
    public string GgmlName { get; } = ggmlName;
    public int BlockSize { get; } = blockSize;
    public int TypeSize { get; } = typeSize;
}

/// <summary>
/// Records a wire id that ggml has retired. Readers must recognise it to report it by name,
/// and no live type may reuse it.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class RetiredGgmlTypeAttribute(uint id, string name) : Attribute
{
    public uint Id { get; } = id;
    public string Name { get; } = name;
}
