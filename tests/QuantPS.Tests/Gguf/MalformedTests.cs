using System.Text;
using QuantPS.Gguf;
using Xunit;

namespace QuantPS.Tests.Gguf;

/// <summary>
/// One hand-made file per check the reader makes (at least every check of llama.cpp's gguf
/// reader), including the shapes of published GGUF advisories. Each must be refused with its
/// own error kind, without allocating more than the file's size justifies.
/// </summary>
public sealed class MalformedTests
{
    private const uint F32 = 0, Q4_0 = 2;

    private static GgufException Refused(byte[] bytes, GgufErrorKind expected)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<GgufException>(() => GgufHeaderParser.Parse(bytes));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(expected, error.Kind);
        Assert.Equal("Gguf" + expected, error.ErrorId);
        Assert.True(allocated < 64 * 1024 + 4L * bytes.Length, $"refusing a {bytes.Length}-byte file allocated {allocated} bytes");
        return error;
    }

    /// <summary>A valid file with one F32 tensor of <paramref name="values"/> values, for mutating.</summary>
    private static RawGguf OneTensor(string name = "w", long values = 8, uint type = F32, ulong offset = 0) =>
        new RawGguf().Header(3, 1, 1).KvString("general.architecture", "llama").TensorInfo(name, [values], type, offset).PadTo(32);

    [Fact]
    public void A_well_formed_hand_made_file_is_accepted()
    {
        var header = GgufHeaderParser.Parse(OneTensor().Zeros(32).ToArray());
        Assert.Single(header.Tensors);
        Assert.Empty(header.Findings);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void Files_too_short_to_hold_a_magic_are_truncated(int length) =>
        Refused(new byte[length], GgufErrorKind.Truncated);

    [Fact]
    public void A_wrong_magic_is_refused()
    {
        Refused(new RawGguf().Magic("GGUG").U32(3).I64(0).I64(0).ToArray(), GgufErrorKind.InvalidMagic);
        var ggml = Refused(new RawGguf().Magic("tjgg").U32(3).ToArray(), GgufErrorKind.InvalidMagic);
        Assert.Contains("pre-GGUF", ggml.Message);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(4u)]
    [InlineData(0x03000000u)] // a big-endian v3 file read little-endian
    public void Unsupported_versions_are_refused(uint version) =>
        Refused(new RawGguf().Magic().U32(version).I64(0).I64(0).ToArray(), GgufErrorKind.UnsupportedVersion);

    [Fact]
    public void A_file_cut_inside_its_header_is_truncated() =>
        Refused(new RawGguf().Magic().U32(3).I64(0).ToArray(), GgufErrorKind.Truncated);

    /// <summary>CVE-2025-53630 and kin: counts that claim more entries than the file has bytes for.</summary>
    /// <summary>
    /// Counts and lengths past GGUF's caps (2^30, as llama.cpp) are corrupt; plausible ones the file is
    /// too short for mean the file was cut (an interrupted download). Either way nothing is allocated.
    /// </summary>
    [Theory]
    [InlineData(long.MaxValue, 0L, GgufErrorKind.LengthOutOfRange)]
    [InlineData(0L, long.MaxValue, GgufErrorKind.LengthOutOfRange)]
    [InlineData(-1L, 0L, GgufErrorKind.LengthOutOfRange)]
    [InlineData(1L << 40, 0L, GgufErrorKind.LengthOutOfRange)]
    [InlineData(1L << 29, 0L, GgufErrorKind.Truncated)]
    [InlineData(0L, 1000L, GgufErrorKind.Truncated)]
    public void Counts_larger_than_the_file_could_hold_are_refused_before_allocating(long tensors, long kvs, GgufErrorKind kind) =>
        Refused(new RawGguf().Header(3, tensors, kvs).Zeros(64).ToArray(), kind);

    [Theory]
    [InlineData(ulong.MaxValue, GgufErrorKind.LengthOutOfRange)]
    [InlineData(1UL << 31, GgufErrorKind.LengthOutOfRange)]
    [InlineData(1UL << 29, GgufErrorKind.Truncated)]
    [InlineData(65UL, GgufErrorKind.Truncated)]
    public void A_string_longer_than_the_rest_of_the_file_is_refused(ulong length, GgufErrorKind kind) =>
        Refused(new RawGguf().Header(3, 0, 1).U64(length).Bytes(Encoding.ASCII.GetBytes("general.name")).Zeros(40).ToArray(), kind);

    [Theory]
    [InlineData(4u, 1UL << 29, GgufErrorKind.Truncated)]          // 2 GiB of uint32 in a 100-byte file
    [InlineData(10u, 1UL << 62, GgufErrorKind.LengthOutOfRange)]  // count × 8 overflows 64 bits
    [InlineData(8u, ulong.MaxValue, GgufErrorKind.LengthOutOfRange)] // negative as int64
    [InlineData(0u, (1UL << 30) + 1, GgufErrorKind.LengthOutOfRange)] // beyond llama.cpp's array cap even if the file were large
    public void An_array_longer_than_the_file_could_hold_is_refused(uint elementType, ulong count, GgufErrorKind kind) =>
        Refused(new RawGguf().Header(3, 0, 1).Str("a").U32(9).U32(elementType).U64(count).Zeros(64).ToArray(), kind);

    [Fact]
    public void Arrays_nested_without_end_are_refused_without_deep_recursion()
    {
        var raw = new RawGguf().Header(3, 0, 1).Str("deep").U32(9);
        for (var i = 0; i < 10_000; i++)
        {
            raw.U32(9).U64(1);
        }

        Refused(raw.ToArray(), GgufErrorKind.Corrupt);
    }

    [Theory]
    [InlineData(13u)]
    [InlineData(uint.MaxValue)]
    public void Undefined_value_types_are_refused(uint type)
    {
        Refused(new RawGguf().Header(3, 0, 1).Str("k").U32(type).Zeros(16).ToArray(), GgufErrorKind.InvalidValueType);
        Refused(new RawGguf().Header(3, 0, 1).Str("k").U32(9).U32(type).U64(0).ToArray(), GgufErrorKind.InvalidValueType);
    }

    [Fact]
    public void An_empty_key_is_refused() =>
        Refused(new RawGguf().Header(3, 0, 1).Str("").U32(4).U32(1).ToArray(), GgufErrorKind.EmptyKey);

    [Fact]
    public void A_duplicate_key_is_refused() =>
        Refused(new RawGguf().Header(3, 0, 2).KvU32("a", 1).KvU32("a", 2).ToArray(), GgufErrorKind.DuplicateKey);

    [Fact]
    public void Invalid_utf8_in_a_key_or_tensor_name_is_refused_and_in_a_value_is_reported()
    {
        byte[] invalid = [0x61, 0xC3, 0x28];
        Refused(new RawGguf().Header(3, 0, 1).StrBytes(invalid).U32(4).U32(1).ToArray(), GgufErrorKind.InvalidUtf8);
        Refused(new RawGguf().Header(3, 1, 0).StrBytes(invalid).U32(1).I64(8).U32(F32).U64(0).PadTo(32).Zeros(32).ToArray(), GgufErrorKind.InvalidUtf8);

        var header = GgufHeaderParser.Parse(new RawGguf().Header(3, 0, 1).Str("general.name").U32(8).StrBytes(invalid).ToArray());
        Assert.Equal("a\uFFFD(", header.Metadata.GetString("general.name"));
        Assert.Contains(header.Findings, f => f.Check == "InvalidUtf8Value" && f.Severity == GgufSeverity.Warning);
    }

    [Fact]
    public void An_alignment_that_is_not_a_uint32_power_of_two_is_refused()
    {
        Refused(new RawGguf().Header(3, 0, 1).Str("general.alignment").U32(10).U64(32).ToArray(), GgufErrorKind.InvalidAlignment);
        Refused(new RawGguf().Header(3, 0, 1).KvU32("general.alignment", 0).ToArray(), GgufErrorKind.InvalidAlignment);
        Refused(new RawGguf().Header(3, 0, 1).KvU32("general.alignment", 48).ToArray(), GgufErrorKind.InvalidAlignment);
    }

    [Fact]
    public void A_tensor_name_of_64_bytes_or_more_is_refused()
    {
        Refused(OneTensor(new string('x', 64)).Zeros(32).ToArray(), GgufErrorKind.TensorNameTooLong);
        Assert.Single(GgufHeaderParser.Parse(OneTensor(new string('x', 63)).Zeros(32).ToArray()).Tensors);
    }

    [Fact]
    public void A_duplicate_tensor_name_is_refused() =>
        Refused(new RawGguf().Header(3, 2, 0).TensorInfo("w", [8], F32, 0).TensorInfo("w", [8], F32, 32).PadTo(32).Zeros(64).ToArray(), GgufErrorKind.DuplicateTensorName);

    [Fact]
    public void More_than_four_dimensions_are_refused() =>
        Refused(new RawGguf().Header(3, 1, 0).TensorInfo("w", [1, 1, 1, 1, 1], F32, 0).PadTo(32).Zeros(32).ToArray(), GgufErrorKind.TooManyDimensions);

    [Fact]
    public void A_negative_dimension_is_refused() =>
        Refused(new RawGguf().Header(3, 1, 0).TensorInfo("w", [8, -1], F32, 0).PadTo(32).Zeros(32).ToArray(), GgufErrorKind.NegativeDimension);

    /// <summary>CVE-2026-27940 / CVE-2026-33298 shapes: element counts and byte sizes that overflow 64 bits.</summary>
    [Fact]
    public void Element_counts_and_sizes_that_overflow_are_refused()
    {
        Refused(new RawGguf().Header(3, 1, 0).TensorInfo("w", [1L << 32, 1L << 32], F32, 0).PadTo(32).Zeros(32).ToArray(), GgufErrorKind.ElementCountOverflow);
        Refused(new RawGguf().Header(3, 1, 0).TensorInfo("w", [32, 1L << 31, 1L << 31], F32, 0).PadTo(32).Zeros(32).ToArray(), GgufErrorKind.ElementCountOverflow);
        // 2^62 F32 values fit an int64 count, but not an int64 byte size.
        Refused(new RawGguf().Header(3, 1, 0).TensorInfo("w", [1L << 31, 1L << 31], F32, 0).PadTo(32).Zeros(32).ToArray(), GgufErrorKind.TensorSizeOverflow);
        // A size that fits 64 bits but not the file: refused by the bounds check, not allocated.
        Refused(new RawGguf().Header(3, 1, 0).TensorInfo("w", [1L << 40], F32, 0).PadTo(32).Zeros(32).ToArray(), GgufErrorKind.Truncated);
    }

    [Theory]
    [InlineData(43u)]
    [InlineData(1000u)]
    [InlineData(4u)]  // Q4_2, retired
    [InlineData(31u)] // Q4_0_4_4, retired
    public void Unknown_and_retired_tensor_types_are_refused_by_id(uint type)
    {
        var error = Refused(OneTensor(type: type).Zeros(32).ToArray(), GgufErrorKind.UnknownTensorType);
        Assert.Contains(type.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
    }

    [Fact]
    public void A_row_that_is_not_a_whole_number_of_blocks_is_refused() =>
        Refused(OneTensor(values: 33, type: Q4_0).Zeros(64).ToArray(), GgufErrorKind.RowNotBlockMultiple);

    [Fact]
    public void Tensor_offsets_must_be_aligned_packed_and_in_order()
    {
        RawGguf Two(ulong second) => new RawGguf().Header(3, 2, 0)
            .TensorInfo("a", [16], F32, 0).TensorInfo("b", [16], F32, second).PadTo(32).Zeros(256);

        Assert.Equal(2, GgufHeaderParser.Parse(Two(64).ToArray()).Tensors.Count);
        Refused(Two(65).ToArray(), GgufErrorKind.TensorMisaligned);
        Refused(Two(32).ToArray(), GgufErrorKind.TensorOverlap);
        Refused(Two(0).ToArray(), GgufErrorKind.TensorOverlap);
        Refused(Two(128).ToArray(), GgufErrorKind.TensorGap);
    }

    /// <summary>
    /// Ollama's CVE-2026-7482 shape: a tensor whose offset plus size runs past the end of the file.
    /// With the table packed as llama.cpp requires, the file is shorter than it says (Truncated);
    /// with offsets out of place (read leniently), the tensor is out of bounds.
    /// </summary>
    [Fact]
    public void Tensor_data_past_the_end_of_the_file_is_refused()
    {
        Refused(OneTensor(values: 8).Zeros(31).ToArray(), GgufErrorKind.Truncated);
        Refused(OneTensor(values: 1L << 20).Zeros(32).ToArray(), GgufErrorKind.Truncated);
        var misplaced = new RawGguf().Header(3, 2, 0).TensorInfo("a", [8], F32, 0).TensorInfo("b", [8], F32, 4096).PadTo(32).Zeros(64).ToArray();
        var outOfBounds = Assert.Throws<GgufException>(() => GgufHeaderParser.Parse(misplaced, GgufParseMode.Lenient));
        Assert.Equal(GgufErrorKind.TensorOutOfBounds, outOfBounds.Kind);
        Refused(new RawGguf().Header(3, 1, 0).TensorInfo("w", [8], F32, ulong.MaxValue - 31).PadTo(32).Zeros(32).ToArray(), GgufErrorKind.TensorGap);
        Refused(new RawGguf().Header(3, 1, 0).TensorInfo("w", [8], F32, ulong.MaxValue - 30).PadTo(32).Zeros(32).ToArray(), GgufErrorKind.TensorMisaligned);
        // the data section itself starts past the end
        Refused(new RawGguf().Header(3, 1, 0).TensorInfo("w", [0], F32, 0).ToArray().AsSpan(0, 57).ToArray(), GgufErrorKind.Truncated);
    }

    [Fact]
    public void Lenient_parsing_lists_every_recoverable_problem_instead_of_stopping()
    {
        var bytes = new RawGguf().Header(3, 3, 2).KvU32("a", 1).KvU32("a", 2)
            .TensorInfo(new string('n', 70), [8], F32, 0)
            .TensorInfo("b", [8], F32, 64)
            .TensorInfo("b", [8], F32, 96)
            .PadTo(32).Zeros(256).ToArray();

        var header = GgufHeaderParser.Parse(bytes, GgufParseMode.Lenient);

        var checks = header.Findings.Where(f => f.Severity == GgufSeverity.Error).Select(f => f.Check).ToArray();
        Assert.Equal(["DuplicateKey", "TensorNameTooLong", "DuplicateTensorName", "TensorGap"], checks);
        Assert.Equal(1L, header.Metadata.GetInteger("a"));
    }

    [Fact]
    public void Version1_layout_is_read_with_32_bit_counts_and_lengths()
    {
        var v1 = new RawGguf().Magic().U32(1).U32(1).U32(1)
            .U32(4).Bytes("name"u8.ToArray()).U32(8).U32(2).Bytes("v1"u8.ToArray())
            .U32(1).Bytes("w"u8.ToArray()).U32(1).U32(8).U32(F32).U64(0)
            .PadTo(32).Zeros(32).ToArray();

        var header = GgufHeaderParser.Parse(v1);
        Assert.Equal(1u, header.Version);
        Assert.Equal("v1", header.Metadata.GetString("name"));
        Assert.Equal([8L], header.Tensors[0].Shape);
    }
}
