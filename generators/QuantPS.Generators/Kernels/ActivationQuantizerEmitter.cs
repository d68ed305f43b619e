using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// Activation quantizers (ggml's CPU from_float) for the 8-bit formats, byte-exact with ggml:
/// AbsMax is the x86 path of Q8_0/Q8_1 (d = amax/127, q = round_even(x * 127/amax), Sum = d * sum(q)),
/// SignedAbsMax is Q8_K (iscale = -127/max of the first largest magnitude, q = min(127,
/// round_even(iscale * x)), d = 1/iscale, per-group int16 sums).
/// </summary>
internal sealed class ActivationQuantizerEmitter : KernelFamily
{
    private const int Group = 16;

    public override string Name => "ActivationQuantizer";

    public override bool EmitsQuantizer(KernelModel model)
    {
        var layout = model.Layout;
        var scale = layout.Find(FieldKind.Scale);
        var sums = layout.Find(FieldKind.GroupSums);
        return model.QuantizerRule switch
        {
            "AbsMax" => layout.BlockSize == 32 && scale?.Format == "F16" && sums is null,
            "SignedAbsMax" => layout.BlockSize % Group == 0 && scale?.Format is "F16" or "F32" && layout.Find(FieldKind.Sum) is null
                && (sums is null || layout.BlockSize / sums.Count == Group),
            _ => false,
        };
    }

    public override void EmitQuantizer(SourceWriter writer, KernelModel model)
    {
        if (model.QuantizerRule == "AbsMax")
        {
            EmitAbsMaxScalar(writer, model);
            foreach (var width in Width.All)
            {
                EmitAbsMax(writer, model, width);
            }
        }
        else
        {
            EmitSignedScalar(writer, model);
            foreach (var width in Width.All)
            {
                EmitSigned(writer, model, width);
            }
        }
    }

    private static void EmitAbsMaxScalar(SourceWriter writer, KernelModel model)
    {
        var layout = model.Layout;
        writer.Line("/// <summary>Scalar fallback activation quantizer (same bytes as every width).</summary>");
        writer.Line(Hot);
        writer.Line("public static void QuantizeRowScalar(float* source, byte* destination, long count)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("for (long b = 0; b < blocks; b++)");
            using (writer.Braces())
            {
                writer.Lines("""
                    float* x = source + b * BlockSize;
                    byte* block = destination + b * TypeSize;
                    float amax = 0f;
                    for (int i = 0; i < BlockSize; i++)
                    {
                        float a = MathF.Abs(x[i]);
                        if (a > amax)
                        {
                            amax = a;
                        }
                    }

                    float d = amax / 127f;
                    float id = amax != 0f ? 127f / amax : 0f;
                    """);
                writer.Line(WriteScalar(layout.Find(FieldKind.Scale)!, "d") + ";");
                writer.Line($"sbyte* q = (sbyte*)({ReferenceEmitter.Address("block", layout.Find(FieldKind.Quants)!.Offset)});");
                writer.Lines("""
                    int sum = 0;
                    for (int i = 0; i < BlockSize; i++)
                    {
                        int v = Simd.RoundToInt(x[i] * id);
                        q[i] = (sbyte)v;
                        sum += v;
                    }
                    """);
                if (layout.Find(FieldKind.Sum) is { } sumField)
                {
                    writer.Line(WriteScalar(sumField, "d * sum") + ";");
                }
            }
        }

        writer.Line();
    }

    private static void EmitAbsMax(SourceWriter writer, KernelModel model, Width width)
    {
        var layout = model.Layout;
        var vectors = layout.BlockSize / width.Floats;
        writer.Line($"/// <summary>Activation quantizer, {width.Bits}-bit vectors ({Width.Text(vectors)} per block).</summary>");
        writer.Line(Hot);
        writer.Line($"public static void QuantizeRow{width.Suffix}(float* source, byte* destination, long count)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("for (long b = 0; b < blocks; b++)");
            using (writer.Braces())
            {
                writer.Line("float* x = source + b * BlockSize;").Line("byte* block = destination + b * TypeSize;");
                var values = Enumerable.Range(0, vectors).Select(i => "v" + Width.Text(i)).ToList();
                for (var i = 0; i < vectors; i++)
                {
                    writer.Line($"var v{i} = {width.Vec}.Load(x + {Width.Text(i * width.Floats)});");
                }

                // Magnitudes are non-negative, so their bit patterns order like the floats: an integer max is exact.
                writer.Line($"var m = {width.Vec}.Abs(v0).AsInt32();");
                for (var i = 1; i < vectors; i++)
                {
                    writer.Line($"m = {width.Vec}.Max(m, {width.Vec}.Abs(v{i}).AsInt32());");
                }

                writer.Lines("""
                    float amax = BitConverter.Int32BitsToSingle(Simd.HorizontalMax(m));
                    float d = amax / 127f;
                    float id = amax != 0f ? 127f / amax : 0f;
                    """);
                writer.Line(WriteScalar(layout.Find(FieldKind.Scale)!, "d") + ";");
                writer.Line($"var scale = {width.Vec}.Create(id);");
                var ints = values.Select(v => "q" + v.Substring(1)).ToList();
                for (var i = 0; i < vectors; i++)
                {
                    writer.Line($"var {ints[i]} = Simd.RoundToInt({values[i]} * scale);");
                }

                if (layout.Find(FieldKind.Sum) is { } sumField)
                {
                    writer.Line($"int sum = {width.Vec}.Sum({string.Join(" + ", ints)});");
                    writer.Line(WriteScalar(sumField, "d * sum") + ";");
                }

                StoreNarrowed(writer, width, ints, ReferenceEmitter.Address("block", layout.Find(FieldKind.Quants)!.Offset));
            }
        }

        writer.Line();
    }

    private static void EmitSignedScalar(SourceWriter writer, KernelModel model)
    {
        var layout = model.Layout;
        var sums = layout.Find(FieldKind.GroupSums);
        writer.Line("/// <summary>Scalar fallback activation quantizer (ggml's reference loop).</summary>");
        writer.Line(Hot);
        writer.Line("public static void QuantizeRowScalar(float* source, byte* destination, long count)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("for (long b = 0; b < blocks; b++)");
            using (writer.Braces())
            {
                writer.Lines("""
                    float* x = source + b * BlockSize;
                    byte* block = destination + b * TypeSize;
                    float amax = 0f, max = 0f;
                    for (int i = 0; i < BlockSize; i++)
                    {
                        float a = MathF.Abs(x[i]);
                        if (a > amax)
                        {
                            amax = a;
                            max = x[i];
                        }
                    }

                    if (amax == 0f)
                    {
                        // ggml leaves the group sums of an all-zero block unwritten; zeros are the only sensible bytes.
                        new Span<byte>(block, TypeSize).Clear();
                        continue;
                    }

                    float iscale = -127f / max;
                    """);
                writer.Line($"sbyte* q = (sbyte*)({ReferenceEmitter.Address("block", layout.Find(FieldKind.Quants)!.Offset)});");
                writer.Lines("""
                    for (int i = 0; i < BlockSize; i++)
                    {
                        q[i] = (sbyte)Math.Min(127, Simd.RoundToInt(iscale * x[i]));
                    }
                    """);
                if (sums is not null)
                {
                    writer.Line($"for (int group = 0; group < {Width.Text(sums.Count)}; group++)");
                    using (writer.Braces())
                    {
                        writer.Line("int sum = 0;").Line($"for (int i = 0; i < {Group}; i++)");
                        using (writer.Braces())
                        {
                            writer.Line($"sum += q[group * {Group} + i];");
                        }

                        writer.Line($"Unsafe.WriteUnaligned(block + {Width.Text(sums.Offset)} + group * 2, (short)sum);");
                    }
                }

                writer.Line(WriteScalar(layout.Find(FieldKind.Scale)!, "1f / iscale") + ";");
            }
        }

        writer.Line();
    }

    private static void EmitSigned(SourceWriter writer, KernelModel model, Width width)
    {
        var layout = model.Layout;
        var sums = layout.Find(FieldKind.GroupSums);
        var perGroup = Group / width.Floats;
        writer.Line($"/// <summary>Activation quantizer, {width.Bits}-bit vectors, {Group} values per group.</summary>");
        writer.Line(Hot);
        writer.Line($"public static void QuantizeRow{width.Suffix}(float* source, byte* destination, long count)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("for (long b = 0; b < blocks; b++)");
            using (writer.Braces())
            {
                writer.Line("float* x = source + b * BlockSize;").Line("byte* block = destination + b * TypeSize;");
                writer.Line($"var m = {width.Vec}<int>.Zero;").Line($"for (int i = 0; i < BlockSize; i += {Width.Text(width.Floats)})");
                using (writer.Braces())
                {
                    writer.Line($"m = {width.Vec}.Max(m, {width.Vec}.Abs({width.Vec}.Load(x + i)).AsInt32());");
                }

                writer.Lines("""
                    float amax = BitConverter.Int32BitsToSingle(Simd.HorizontalMax(m));
                    if (amax == 0f)
                    {
                        new Span<byte>(block, TypeSize).Clear();
                        continue;
                    }

                    // The sign comes from the first value of largest magnitude, as ggml's strict '>' scan keeps.
                    float max = 0f;
                    for (int i = 0; i < BlockSize; i++)
                    {
                        if (MathF.Abs(x[i]) == amax)
                        {
                            max = x[i];
                            break;
                        }
                    }

                    float iscale = -127f / max;
                    """);
                writer.Line($"var scale = {width.Vec}.Create(iscale);").Line($"var top = {width.Vec}.Create(127);");
                writer.Line($"for (int group = 0; group < BlockSize / {Group}; group++)");
                using (writer.Braces())
                {
                    writer.Line($"float* gx = x + group * {Group};");
                    var ints = Enumerable.Range(0, perGroup).Select(i => "q" + Width.Text(i)).ToList();
                    for (var i = 0; i < perGroup; i++)
                    {
                        writer.Line($"var q{i} = {width.Vec}.Min(Simd.RoundToInt({width.Vec}.Load(gx + {Width.Text(i * width.Floats)}) * scale), top);");
                    }

                    if (sums is not null)
                    {
                        writer.Line($"Unsafe.WriteUnaligned(block + {Width.Text(sums.Offset)} + group * 2, (short){width.Vec}.Sum({string.Join(" + ", ints)}));");
                    }

                    StoreNarrowed(writer, width, ints, $"block + {Width.Text(layout.Find(FieldKind.Quants)!.Offset)} + group * {Group}");
                }

                writer.Line(WriteScalar(layout.Find(FieldKind.Scale)!, "1f / iscale") + ";");
            }
        }

        writer.Line();
    }

    /// <summary>Narrows int32 vectors to int8 (pairwise, or halves when one is left) and stores them in order.</summary>
    private static void StoreNarrowed(SourceWriter writer, Width width, List<string> ints, string address)
    {
        var level = ints;
        var bits = width.Bits;
        for (var pass = 0; pass < 2; pass++)
        {
            var next = new List<string>();
            if (level.Count == 1)
            {
                bits /= 2;
                next.Add($"n{pass}_0");
                writer.Line($"var n{pass}_0 = Vector{Width.Text(bits)}.Narrow({level[0]}.GetLower(), {level[0]}.GetUpper());");
            }
            else
            {
                for (var i = 0; i + 1 < level.Count; i += 2)
                {
                    var name = $"n{pass}_{Width.Text(i / 2)}";
                    next.Add(name);
                    writer.Line($"var {name} = Vector{Width.Text(bits)}.Narrow({level[i]}, {level[i + 1]});");
                }
            }

            level = next;
        }

        var bytes = bits / 8;
        for (var i = 0; i < level.Count; i++)
        {
            writer.Line($"{level[i]}.Store((sbyte*)({address}) + {Width.Text(i * bytes)});");
        }
    }

    private static string WriteScalar(KernelField field, string value) => field.Format == "F32"
        ? $"Unsafe.WriteUnaligned({ReferenceEmitter.Address("block", field.Offset)}, {value})"
        : $"Simd.WriteHalf({ReferenceEmitter.Address("block", field.Offset)}, {value})";
}
