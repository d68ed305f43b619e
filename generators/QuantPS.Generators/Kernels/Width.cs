using System.Collections.Generic;
using System.Globalization;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// One vector width a template is instantiated at. Templates write <c>$V</c> for the vector type
/// (Vector256), <c>$W</c> for the member suffix (V256), <c>$H</c> for the half-width vector type and
/// <c>$L</c> for the floats per vector; <see cref="Fill"/> substitutes them.
/// </summary>
internal sealed class Width
{
    public static readonly Width V128 = new(128);
    public static readonly Width V256 = new(256);
    public static readonly Width V512 = new(512);

    /// <summary>Widest first, the order dispatch prefers them.</summary>
    public static readonly IReadOnlyList<Width> All = new[] { V512, V256, V128 };

    private Width(int bits) => Bits = bits;

    public int Bits { get; }

    public string Vec => "Vector" + Text(Bits);

    public string Suffix => "V" + Text(Bits);

    public string HalfVec => "Vector" + Text(Bits / 2);

    public int Bytes => Bits / 8;

    public int Floats => Bits / 32;

    /// <summary>The check that this width's float multiply-adds are fused in hardware ($FMA in a template).</summary>
    public string FmaSupported => Bits == 512 ? "Avx512F.IsSupported" : "Fma.IsSupported";

    public string Fill(string template) => template
        .Replace("$V", Vec)
        .Replace("$W", Suffix)
        .Replace("$H", HalfVec)
        .Replace("$L", Text(Floats))
        .Replace("$FMA", FmaSupported);

    public static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);
}
