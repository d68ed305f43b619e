using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// Writes, for one K-quant super-block at one width, the statements that decode its sub-scales into int16 tables
/// and its values into vectors of unsigned bytes (quant bits, then each high-bit plane above them). Works from the
/// field orders alone: in Interleaved32/64 order the 32 values of run r are one 32-byte load shifted right by
/// bits * k. Loads are named once per block and shared by every vector that reads them; at 512 bits a vector
/// holds two runs, joined from their two loads (or one 64-byte load when the runs are adjacent bytes).
/// </summary>
internal sealed class KQuantDecoder
{
    private const int Run = 32;

    private readonly SourceWriter writer;
    private readonly KernelModel model;
    private readonly Width width;
    private readonly string block;
    private readonly Dictionary<string, string> named = new();

    /// <summary>Where the hot per-block constants go; null writes them inline.</summary>
    private readonly KQuantConstants? constants;

    private ByteTable? scales;
    private ByteTable? mins;

    /// <summary>The signed scale bytes in sub-block order, when int16 tables were widened from them.</summary>
    private string? signedBytes;

    /// <summary>
    /// At 256 bits with 16 sub-blocks of 16 (each 16-byte lane of a vector its own sub-block, vector v covering 2v and
    /// 2v + 1): one int16 table, even sub-blocks in the low lane and odd ones in the high lane, so vector v reads entry
    /// v of both lanes; it costs a byte shuffle and a widening where two broadcast tables cost four operations.
    /// </summary>
    private bool EvenOdd => width == Width.V256 && signedBytes is not null
        && model.Layout.Find(FieldKind.SubScales)!.Count == 16 && model.Layout.BlockSize == 256;

    public KQuantDecoder(SourceWriter writer, KernelModel model, Width width, string block, KQuantConstants? constants = null)
    {
        this.writer = writer;
        this.model = model;
        this.width = width;
        this.block = block;
        this.constants = constants;
    }

    /// <summary>The fields a value's bits come from, lowest first: the quants, then the high-bit planes in wire order.</summary>
    public static List<KernelField> ValueFields(LayoutModel layout) =>
        layout.Fields.Where(field => field.Kind == FieldKind.Quants)
            .Concat(layout.Fields.Where(field => field.Kind == FieldKind.HighBits)).ToList();

    /// <summary>
    /// Emits the sub-scale decoding. Unsigned scales without Offset stay bytes (a "byte table": a Vector128 holding
    /// scale j at byte <c>positions[j]</c>), read zero-extended by byte shuffles; signed or offset scales are widened
    /// to int16 tables <c>sc0</c> (sub-blocks 0-7) and <c>sc1</c> (8-15). Mins are always a byte table.
    /// </summary>
    public void EmitSubScales()
    {
        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var at = ReferenceEmitter.Address(block, sub.Offset);
        var count = sub.Count;
        var sequential = Enumerable.Range(0, count).ToArray();
        ByteTable source;
        switch (sub.Order)
        {
            case "ScaleMinPairs":
                // Byte j: scale j in the low bits, min j above.
                var mask = $"Vector128.Create((byte){Width.Text((1 << sub.Bits) - 1)})";
                writer.Line($"var pairs = {LoadBytes(at, count)};")
                    .Line($"var scaleBytes = pairs & {mask};")
                    .Line($"var minBytes = Vector128.ShiftRightLogical(pairs.AsUInt16(), {Width.Text(sub.Bits)}).AsByte() & {mask};");
                source = new ByteTable("scaleBytes", sequential);
                mins = new ByteTable("minBytes", sequential);
                break;
            case "ScalesK3":
                // Scales 0-7 keep their low 4 bits in the low nibbles of bytes 0-7, 8-15 in the high nibbles; the
                // high 2 bits of scale j are bits 2 * (j / 4) of byte 8 + j % 4.
                writer.Line($"ulong low = Unsafe.ReadUnaligned<ulong>({at});")
                    .Line($"uint top = Unsafe.ReadUnaligned<uint>({ReferenceEmitter.Address(at, 8)});")
                    .Line("ulong high = top | ((ulong)(top >> 2) << 32);")
                    .Line("var k3 = Vector128.Create("
                        + "(low & 0x0F0F0F0F0F0F0F0FUL) | ((high & 0x0303030303030303UL) << 4), "
                        + "((low >> 4) & 0x0F0F0F0F0F0F0F0FUL) | (((high >> 4) & 0x0303030303030303UL) << 4)).AsByte();");
                source = new ByteTable("k3", sequential);
                break;
            case "ScaleMinK4":
                // Scales and mins 0-3 whole in bytes 0-7; 4-7 from the nibbles of bytes 8-11 and the top 2 bits of
                // bytes 0-7. Laid out as [s0-3, m0-3, s4-7, m4-7], so the shuffles below pick them by position.
                writer.Line($"ulong low = Unsafe.ReadUnaligned<ulong>({at});")
                    .Line($"uint top = Unsafe.ReadUnaligned<uint>({ReferenceEmitter.Address(at, 8)});")
                    .Line("var k4 = Vector128.Create("
                        + "low & 0x3F3F3F3F3F3F3F3FUL, "
                        + "((ulong)(top & 0x0F0F0F0Fu) | ((ulong)((top >> 4) & 0x0F0F0F0Fu) << 32)) | (((low >> 6) & 0x0303030303030303UL) << 4)).AsByte();");
                source = new ByteTable("k4", Enumerable.Range(0, 8).Select(j => j < 4 ? j : j + 4).ToArray());
                mins = new ByteTable("k4", Enumerable.Range(0, 8).Select(j => j < 4 ? j + 4 : j + 8).ToArray());
                break;
            default:
                // Sequential bytes.
                writer.Line($"var scaleBytes = {LoadBytes(at, count)};");
                source = new ByteTable("scaleBytes", sequential);
                break;
        }

        if (!sub.Signed && sub.ValueOffset == 0)
        {
            scales = source;
            return;
        }

        // Signed or offset scales: int16 tables in sub-block order. The Offset is applied in bytes when it fits.
        var top = sub.Signed ? (1 << (sub.Bits - 1)) - 1 : (1 << sub.Bits) - 1;
        var bottom = sub.Signed ? -(1 << (sub.Bits - 1)) : 0;
        var inBytes = source.Positions.SequenceEqual(sequential) && (sub.Signed || top <= 127)
            && top + sub.ValueOffset <= 127 && bottom + sub.ValueOffset >= -128;
        if (inBytes)
        {
            var signed = sub.ValueOffset == 0 ? $"{source.Name}.AsSByte()" : $"({source.Name}.AsSByte() + Vector128.Create((sbyte){Width.Text(sub.ValueOffset)}))";
            writer.Line($"var scaleSigned = {signed};");
            signedBytes = "scaleSigned";
            for (var t = 0; t < count / 8; t++)
            {
                writer.Line($"var sc{t} = Vector128.Widen{(t == 0 ? "Lower" : "Upper")}(scaleSigned);");
            }
        }
        else
        {
            for (var t = 0; t < count / 8; t++)
            {
                var widened = sub.Signed
                    ? $"Vector128.Widen{(t == 0 ? "Lower" : "Upper")}({source.Name}.AsSByte())"
                    : $"{Ordered(source, t)}";
                writer.Line($"var sc{t} = {widened}{(sub.ValueOffset == 0 ? "" : $" + Vector128.Create((short){Width.Text(sub.ValueOffset)})")};");
            }
        }

        scales = null;
    }

    /// <summary>The int16 scales of sub-blocks 8t..8t+7, in order, as a Vector128 expression.</summary>
    public string ScaleShorts(int t) => scales is { } table ? Ordered(table, t) : "sc" + Width.Text(t);

    /// <summary>The int16 mins of sub-blocks 8t..8t+7, in order.</summary>
    public string MinShorts(int t) => Ordered(mins!, t);

    /// <summary>Emits the per-block tables the dot product's scale shuffles read, broadcast to every 16-byte lane.</summary>
    public void EmitScaleTables()
    {
        var count = model.Layout.Find(FieldKind.SubScales)!.Count;
        if (scales is { } table)
        {
            writer.Line($"var scaleTable = {Broadcast(width, table.Name + ".AsSByte()")};");
            return;
        }

        if (EvenOdd)
        {
            var evenOdd = Enumerable.Range(0, 8).Select(i => 2 * i).Concat(Enumerable.Range(0, 8).Select(i => (2 * i) + 1));
            writer.Line($"var scaleTable = Vector256.WidenLower(Simd.Lookup16({signedBytes}, Vector128.Create({string.Join(", ", evenOdd.Select(i => "(byte)" + Width.Text(i)))})).ToVector256Unsafe());");
            return;
        }

        for (var t = 0; t < count / 8; t++)
        {
            writer.Line($"var scaleTable{t} = {Broadcast(width, $"sc{t}.AsSByte()")};");
        }
    }

    /// <summary>
    /// The int16 scale vector of data vector <paramref name="v"/>: in each 16-byte lane, the scale of the sub-block
    /// that lane's 16 values belong to.
    /// </summary>
    public string ScaleVector(int v)
    {
        var group = model.Layout.BlockSize / model.Layout.Find(FieldKind.SubScales)!.Count;
        var groups = Enumerable.Range(0, width.Bytes / 16).Select(lane => ((v * width.Bytes) + (16 * lane)) / group).ToList();
        if (scales is { } table)
        {
            var lanes = groups.SelectMany(g => Enumerable.Repeat(ZeroExtend(table.Positions[g]), 8));
            return $"Simd.Lookup16(scaleTable, {Hot(width, lanes)}).AsInt16()";
        }

        if (EvenOdd)
        {
            return $"Simd.Lookup16(scaleTable.AsSByte(), {Hot(width, Enumerable.Repeat(Pick(v), 16))}).AsInt16()";
        }

        var lanesOf = groups.SelectMany(g => Enumerable.Repeat(Pick(g % 8), 8));
        return $"Simd.Lookup16(scaleTable{Width.Text(groups[0] / 8)}, {Hot(width, lanesOf)}).AsInt16()";
    }

    /// <summary>
    /// For Q8_K's 16 per-16 sums: the scale (or min) of each sum's sub-block as int16, one Vector256 at 256 and
    /// 512 bits (<paramref name="half"/> ignored), at 128 bits the Vector128 of sums 8 * half .. 8 * half + 7.
    /// </summary>
    public string PerSumValues(bool ofMins, int half)
    {
        var group = model.Layout.BlockSize / model.Layout.Find(FieldKind.SubScales)!.Count;
        var wide = width != Width.V128;
        var sums = wide ? Enumerable.Range(0, 16) : Enumerable.Range(8 * half, 8);
        var groups = sums.Select(k => (k * 16) / group).ToList();
        var table = ofMins ? mins : scales;
        if (table is not null)
        {
            var lanes = groups.Select(g => ZeroExtend(table.Positions[g]));
            if (!wide)
            {
                return $"Simd.Lookup16({table.Name}.AsSByte(), {Constant(Width.V128, lanes)}).AsInt16()";
            }

            // The dot product's scale table already holds the scale bytes in every lane.
            var source = !ofMins || table.Name == scales?.Name
                ? width == Width.V512 ? "scaleTable.GetLower()" : "scaleTable"
                : $"Simd.BroadcastV256({table.Name}.AsSByte())";
            return groups.SequenceEqual(Enumerable.Range(0, 16)) && table.Positions.SequenceEqual(Enumerable.Range(0, 16))
                ? $"Vector256.WidenLower({table.Name}.ToVector256Unsafe()).AsInt16()"
                : $"Simd.Lookup16({source}, {Constant(Width.V256, lanes)}).AsInt16()";
        }

        // int16 scale tables (sc0, sc1).
        if (group == 16)
        {
            return !wide ? "sc" + Width.Text(half)
                : signedBytes is not null ? $"Vector256.WidenLower({signedBytes}.ToVector256Unsafe())"
                : "Vector256.Create(sc0, sc1)";
        }

        var picks = groups.Select(g => Pick(g % 8));
        return wide
            ? $"Vector256.Create(Simd.Lookup16(sc0.AsSByte(), {Constant(Width.V128, picks.Take(8))}).AsInt16(), Simd.Lookup16(sc0.AsSByte(), {Constant(Width.V128, picks.Skip(8))}).AsInt16())"
            : $"Simd.Lookup16(sc0.AsSByte(), {Constant(Width.V128, picks)}).AsInt16()";
    }

    /// <summary>Emits the decoding of vector <paramref name="v"/> of the block (values v * width.Bytes on) and returns its name.</summary>
    public string EmitVector(int v)
    {
        var parts = new List<string>();
        var position = 0;
        foreach (var field in ValueFields(model.Layout))
        {
            var mask = ((1 << field.Bits) - 1) << position;
            string source;
            int shift;
            if (width == Width.V512)
            {
                (source, shift) = Pair(Source(field, 2 * v), Source(field, (2 * v) + 1));
            }
            else if (width == Width.V256)
            {
                var (offset, s) = Source(field, v);
                (source, shift) = (Load(Width.V256, offset), s);
            }
            else
            {
                var (offset, s) = Source(field, v / 2);
                (source, shift) = (Load(Width.V128, offset + (16 * (v % 2))), s);
            }

            var maskVector = constants is null
                ? $"{width.Vec}.Create((byte)0x{mask:X2})"
                : constants.Vector(width, Enumerable.Repeat((byte)mask, width.Bytes).ToList());
            parts.Add($"({Shift(width, source, position - shift)} & {maskVector})");
            position += field.Bits;
        }

        var name = "u" + Width.Text(v);
        writer.Line($"var {name} = {string.Join(" | ", parts)};");
        return name;
    }

    /// <summary>Byte offset in the block and right shift of the 32 bytes holding run <paramref name="run"/> of a field.</summary>
    private static (int Offset, int Shift) Source(KernelField field, int run)
    {
        var length = field.Order == "Interleaved64" ? 64 : 32;
        var perRun = length * (8 / field.Bits);
        var first = Run * run;
        var within = first % perRun;
        return (field.Offset + ((first / perRun) * length) + (within % length), field.Bits * (within / length));
    }

    /// <summary>Two runs side by side in a 512-bit vector, pre-shifted so one shift fits both; returns it and that shift.</summary>
    private (string Source, int Shift) Pair((int Offset, int Shift) low, (int Offset, int Shift) high)
    {
        if (high.Offset == low.Offset + Run && high.Shift == low.Shift)
        {
            return (Load(Width.V512, low.Offset), low.Shift);
        }

        var common = System.Math.Min(low.Shift, high.Shift);
        var key = $"pair{low.Offset}_{low.Shift - common}_{high.Offset}_{high.Shift - common}";
        if (!named.TryGetValue(key, out var name))
        {
            name = "j" + Width.Text(named.Count);
            var lower = Shift(Width.V256, Load(Width.V256, low.Offset), common - low.Shift);
            var upper = Shift(Width.V256, Load(Width.V256, high.Offset), common - high.Shift);
            writer.Line($"var {name} = Simd.Join({lower}, {upper});");
            named.Add(key, name);
        }

        return (name, common);
    }

    private string Load(Width at, int offset)
    {
        var key = $"load{at.Bits}_{offset}";
        if (!named.TryGetValue(key, out var name))
        {
            name = "m" + Width.Text(named.Count);
            writer.Line($"var {name} = {at.Vec}.Load({ReferenceEmitter.Address(block, offset)});");
            named.Add(key, name);
        }

        return name;
    }

    /// <summary>Bytes shifted left (positive) or right by whole-vector 16-bit shifts; the caller masks each byte after.</summary>
    private static string Shift(Width at, string source, int left) =>
        left == 0 ? source
        : left > 0 ? $"{at.Vec}.ShiftLeft({source}.AsUInt16(), {Width.Text(left)}).AsByte()"
        : $"{at.Vec}.ShiftRightLogical({source}.AsUInt16(), {Width.Text(-left)}).AsByte()";

    /// <summary>Items 8t..8t+7 of a byte table, zero-extended to int16 in order.</summary>
    private static string Ordered(ByteTable table, int t)
    {
        var lanes = Enumerable.Range(8 * t, 8).Select(j => ZeroExtend(table.Positions[j]));
        return $"Simd.Lookup16({table.Name}.AsSByte(), {Constant(Width.V128, lanes)}).AsInt16()";
    }

    private static string Broadcast(Width at, string table) => at == Width.V128 ? table : $"Simd.Broadcast{at.Suffix}({table})";

    /// <summary>Shuffle indices of one int16 lane: byte <paramref name="position"/>, then a zero byte (index bit 7 set).</summary>
    private static ushort ZeroExtend(int position) => (ushort)(position | 0x8000);

    /// <summary>Shuffle indices of one int16 lane: int16 <paramref name="item"/> of the table.</summary>
    private static ushort Pick(int item) => (ushort)((2 * item) | (((2 * item) + 1) << 8));

    /// <summary>A constant used every block: from the pool when there is one, else inline.</summary>
    private string Hot(Width at, IEnumerable<ushort> lanes) => constants is null
        ? Constant(at, lanes)
        : constants.Vector(at, lanes.SelectMany(lane => new[] { (byte)lane, (byte)(lane >> 8) }).ToList());

    /// <summary>A constant byte vector from int16 lanes (little-endian), written as 64-bit words.</summary>
    private static string Constant(Width at, IEnumerable<ushort> lanes)
    {
        var values = lanes.ToList();
        var words = Enumerable.Range(0, values.Count / 4)
            .Select(w => Enumerable.Range(0, 4).Aggregate(0UL, (word, i) => word | ((ulong)values[(4 * w) + i] << (16 * i))));
        return $"{at.Vec}.Create({string.Join(", ", words.Select(word => "0x" + word.ToString("X16") + "UL"))}).AsByte()";
    }

    /// <summary>A Vector128 of bytes holding item j at <see cref="Positions"/>[j].</summary>
    private sealed record ByteTable(string Name, int[] Positions);

    /// <summary>8 or 16 bytes at <paramref name="at"/>, as a Vector128 (8 bytes: the upper half zero).</summary>
    private static string LoadBytes(string at, int count) => count == 16
        ? $"Vector128.Load({at})"
        : $"Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>({at})).AsByte()";
}
