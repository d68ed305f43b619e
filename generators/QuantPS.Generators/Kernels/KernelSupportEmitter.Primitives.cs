namespace QuantPS.Generators.Kernels;

/// <summary>The per-width vector primitives the kernel templates call, one text per width.</summary>
internal static partial class KernelSupportEmitter
{
    // pmaddubsw/pmaddwd (multiply bytes, add adjacent pairs) have no portable VectorNNN equivalent; emulating them
    // with widen + multiply + widen doubles the work of the hot loop, so the x86 forms are used where supported.
    private const string Primitives128 = """
        /// <summary>Sums of four adjacent int8 products, in int32 lanes.</summary>
        [MethodImpl(Inline)]
        public static Vector128<int> DotI8(Vector128<sbyte> w, Vector128<sbyte> y)
        {
            if (Ssse3.IsSupported)
            {
                // pmaddubsw wants one unsigned operand: |w| times y carrying w's sign.
                var pairs = Ssse3.MultiplyAddAdjacent(Ssse3.Abs(w), Ssse3.Sign(y, w));
                return Sse2.MultiplyAddAdjacent(pairs, Vector128.Create((short)1));
            }

            var lo = Vector128.WidenLower(w) * Vector128.WidenLower(y);
            var hi = Vector128.WidenUpper(w) * Vector128.WidenUpper(y);
            return Vector128.WidenLower(lo) + Vector128.WidenUpper(lo) + Vector128.WidenLower(hi) + Vector128.WidenUpper(hi);
        }

        /// <summary>As <see cref="DotI8(Vector128{sbyte}, Vector128{sbyte})"/> for weights 0..127.</summary>
        [MethodImpl(Inline)]
        public static Vector128<int> DotU8(Vector128<byte> w, Vector128<sbyte> y)
        {
            if (Ssse3.IsSupported)
            {
                return Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(w, y), Vector128.Create((short)1));
            }

            return DotI8(w.AsSByte(), y);
        }

        /// <summary>
        /// Unsigned weights 0..127 times int8 activations, sums of four adjacent products times an int16 scale that
        /// is the same in every lane of each 128-bit lane (a K-quant sub-block covers 16 bytes or more): pmaddubsw,
        /// then pmaddwd with the scales. The fallback places partial sums in other lanes; every lane total agrees.
        /// </summary>
        [MethodImpl(Inline)]
        public static Vector128<int> DotScaled(Vector128<byte> u, Vector128<sbyte> y, Vector128<short> scales)
        {
            if (Ssse3.IsSupported)
            {
                return Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(u, y), scales);
            }

            return DotI8(u.AsSByte(), y) * Vector128.WidenLower(scales);
        }

        /// <summary>
        /// As <see cref="DotScaled(Vector128{byte}, Vector128{sbyte}, Vector128{short})"/> for signed weights: |w| times y with
        /// w's sign (pmaddubsw), then pmaddwd with the scales, which are the same in every lane.
        /// </summary>
        [MethodImpl(Inline)]
        public static Vector128<int> DotI8Scaled(Vector128<sbyte> w, Vector128<sbyte> y, Vector128<short> scales)
        {
            if (Ssse3.IsSupported)
            {
                return Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(Ssse3.Abs(w), Ssse3.Sign(y, w)), scales);
            }

            return DotI8(w, y) * Vector128.WidenLower(scales);
        }

        /// <summary>Sums of int16 products in int32 lanes (pmaddwd); the fallback pairs other lanes, with the same total.</summary>
        [MethodImpl(Inline)]
        public static Vector128<int> MultiplyAddPairs(Vector128<short> a, Vector128<short> b)
        {
            if (Sse2.IsSupported)
            {
                return Sse2.MultiplyAddAdjacent(a, b);
            }

            return (Vector128.WidenLower(a) * Vector128.WidenLower(b)) + (Vector128.WidenUpper(a) * Vector128.WidenUpper(b));
        }

        [MethodImpl(Inline)]
        public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) =>
            Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

        /// <summary>Byte i is 0xFF where bit i of <paramref name="bits"/> is set.</summary>
        [MethodImpl(Inline)]
        public static Vector128<byte> ExpandBits(ushort bits)
        {
            var bytes = Vector128.Create(bits).AsByte();
            var select = Vector128.Create(0UL, 0x0101010101010101UL).AsByte();
            var spread = Ssse3.IsSupported ? Ssse3.Shuffle(bytes, select) : Vector128.Shuffle(bytes, select);
            var mask = Vector128.Create(0x8040201008040201UL).AsByte();
            return Vector128.Equals(spread & mask, mask);
        }

        /// <summary>
        /// 16-entry table lookup, indices 0..15 (pshufb): at 256 and 512 bits each 128-bit lane looks up in its own lane
        /// of the table; an index with bit 7 set gives 0.
        /// </summary>
        [MethodImpl(Inline)]
        public static Vector128<sbyte> Lookup16(Vector128<sbyte> table, Vector128<byte> index) =>
            Ssse3.IsSupported ? Ssse3.Shuffle(table, index.AsSByte()) : Vector128.Shuffle(table, index.AsSByte());

        [MethodImpl(Inline)]
        public static Vector128<sbyte> BroadcastV128(Vector128<sbyte> table) => table;

        /// <summary>
        /// Sum over 4-groups of (u - bias) * y for unsigned u and u, bias &lt;= 127: two unsigned multiplies
        /// in int16 (no saturation at these ranges) replace the sign trick's abs/sign/negate.
        /// </summary>
        [MethodImpl(Inline)]
        public static Vector128<int> DotBiased(Vector128<byte> u, Vector128<sbyte> y, Vector128<byte> bias)
        {
            if (Ssse3.IsSupported)
            {
                var pairs = Ssse3.MultiplyAddAdjacent(u, y) - Ssse3.MultiplyAddAdjacent(bias, y);
                return Sse2.MultiplyAddAdjacent(pairs, Vector128.Create((short)1));
            }

            return DotI8((u - bias).AsSByte(), y);
        }

        /// <summary>Two halves side by side, built without a dependency on the register's old contents.</summary>
        [MethodImpl(Inline)]
        public static Vector256<T> Join<T>(Vector128<T> lower, Vector128<T> upper) => lower.ToVector256Unsafe().WithUpper(upper);

        [MethodImpl(Inline)]
        public static Vector512<T> Join<T>(Vector256<T> lower, Vector256<T> upper) => lower.ToVector512Unsafe().WithUpper(upper);

        [MethodImpl(Inline)]
        public static int HorizontalMax(Vector128<int> v)
        {
            v = Vector128.Max(v, Vector128.Shuffle(v, Vector128.Create(2, 3, 0, 1)));
            v = Vector128.Max(v, Vector128.Shuffle(v, Vector128.Create(1, 0, 3, 2)));
            return v.ToScalar();
        }

        """;

    private const string Primitives256 = """
        /// <summary>Sums of four adjacent int8 products, in int32 lanes.</summary>
        [MethodImpl(Inline)]
        public static Vector256<int> DotI8(Vector256<sbyte> w, Vector256<sbyte> y)
        {
            if (Avx2.IsSupported)
            {
                var pairs = Avx2.MultiplyAddAdjacent(Avx2.Abs(w), Avx2.Sign(y, w));
                return Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));
            }

            return Vector256.Create(DotI8(w.GetLower(), y.GetLower()), DotI8(w.GetUpper(), y.GetUpper()));
        }

        [MethodImpl(Inline)]
        public static Vector256<int> DotU8(Vector256<byte> w, Vector256<sbyte> y)
        {
            if (Avx2.IsSupported)
            {
                return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(w, y), Vector256.Create((short)1));
            }

            return Vector256.Create(DotU8(w.GetLower(), y.GetLower()), DotU8(w.GetUpper(), y.GetUpper()));
        }

        [MethodImpl(Inline)]
        public static Vector256<int> DotScaled(Vector256<byte> u, Vector256<sbyte> y, Vector256<short> scales)
        {
            if (Avx2.IsSupported)
            {
                return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, y), scales);
            }

            return Vector256.Create(DotScaled(u.GetLower(), y.GetLower(), scales.GetLower()), DotScaled(u.GetUpper(), y.GetUpper(), scales.GetUpper()));
        }

        [MethodImpl(Inline)]
        public static Vector256<int> DotI8Scaled(Vector256<sbyte> w, Vector256<sbyte> y, Vector256<short> scales)
        {
            if (Avx2.IsSupported)
            {
                return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(w), Avx2.Sign(y, w)), scales);
            }

            return Vector256.Create(DotI8Scaled(w.GetLower(), y.GetLower(), scales.GetLower()), DotI8Scaled(w.GetUpper(), y.GetUpper(), scales.GetUpper()));
        }

        [MethodImpl(Inline)]
        public static Vector256<int> MultiplyAddPairs(Vector256<short> a, Vector256<short> b)
        {
            if (Avx2.IsSupported)
            {
                return Avx2.MultiplyAddAdjacent(a, b);
            }

            return Vector256.Create(MultiplyAddPairs(a.GetLower(), b.GetLower()), MultiplyAddPairs(a.GetUpper(), b.GetUpper()));
        }

        [MethodImpl(Inline)]
        public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
            Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

        [MethodImpl(Inline)]
        public static Vector256<byte> ExpandBits(uint bits)
        {
            if (!Avx2.IsSupported)
            {
                return Vector256.Create(ExpandBits((ushort)bits), ExpandBits((ushort)(bits >> 16)));
            }

            // vpshufb works within 128-bit lanes: the low lane spreads bytes 0-1, the high lane bytes 2-3.
            var select = Vector256.Create(0UL, 0x0101010101010101UL, 0x0202020202020202UL, 0x0303030303030303UL).AsByte();
            var spread = Avx2.Shuffle(Vector256.Create(bits).AsByte(), select);
            var mask = Vector256.Create(0x8040201008040201UL).AsByte();
            return Vector256.Equals(spread & mask, mask);
        }

        [MethodImpl(Inline)]
        public static Vector256<sbyte> Lookup16(Vector256<sbyte> table, Vector256<byte> index) =>
            Avx2.IsSupported
                ? Avx2.Shuffle(table, index.AsSByte())
                : Vector256.Create(Lookup16(table.GetLower(), index.GetLower()), Lookup16(table.GetUpper(), index.GetUpper()));

        [MethodImpl(Inline)]
        public static Vector256<sbyte> BroadcastV256(Vector128<sbyte> table) => Vector256.Create(table, table);

        [MethodImpl(Inline)]
        public static Vector256<int> DotBiased(Vector256<byte> u, Vector256<sbyte> y, Vector256<byte> bias)
        {
            if (Avx2.IsSupported)
            {
                var pairs = Avx2.MultiplyAddAdjacent(u, y) - Avx2.MultiplyAddAdjacent(bias, y);
                return Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));
            }

            return DotI8((u - bias).AsSByte(), y);
        }

        """;

    private const string Primitives512 = """
        /// <summary>Sums of four adjacent int8 products, in int32 lanes; each 256-bit half sums only its own half's bytes.</summary>
        [MethodImpl(Inline)]
        public static Vector512<int> DotI8(Vector512<sbyte> w, Vector512<sbyte> y)
        {
            if (Avx512BW.IsSupported)
            {
                // AVX-512 has no vpsignb: negate y where w is negative with xor/subtract.
                var negative = Vector512.LessThan(w, Vector512<sbyte>.Zero);
                var pairs = Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(w), (y ^ negative) - negative);
                return Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1));
            }

            return Vector512.Create(DotI8(w.GetLower(), y.GetLower()), DotI8(w.GetUpper(), y.GetUpper()));
        }

        [MethodImpl(Inline)]
        public static Vector512<int> DotU8(Vector512<byte> w, Vector512<sbyte> y)
        {
            if (Avx512BW.IsSupported)
            {
                return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(w, y), Vector512.Create((short)1));
            }

            return Vector512.Create(DotU8(w.GetLower(), y.GetLower()), DotU8(w.GetUpper(), y.GetUpper()));
        }

        [MethodImpl(Inline)]
        public static Vector512<int> DotScaled(Vector512<byte> u, Vector512<sbyte> y, Vector512<short> scales)
        {
            if (Avx512BW.IsSupported)
            {
                return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, y), scales);
            }

            return Vector512.Create(DotScaled(u.GetLower(), y.GetLower(), scales.GetLower()), DotScaled(u.GetUpper(), y.GetUpper(), scales.GetUpper()));
        }

        [MethodImpl(Inline)]
        public static Vector512<int> DotI8Scaled(Vector512<sbyte> w, Vector512<sbyte> y, Vector512<short> scales)
        {
            if (Avx512BW.IsSupported)
            {
                var negative = Vector512.LessThan(w, Vector512<sbyte>.Zero);
                return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(w), (y ^ negative) - negative), scales);
            }

            return Vector512.Create(DotI8Scaled(w.GetLower(), y.GetLower(), scales.GetLower()), DotI8Scaled(w.GetUpper(), y.GetUpper(), scales.GetUpper()));
        }

        [MethodImpl(Inline)]
        public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
            Avx512F.IsSupported ? Avx512F.FusedMultiplyAdd(a, b, c) : a * b + c;

        /// <summary>Two 32-bit planes, one per 256-bit half.</summary>
        [MethodImpl(Inline)]
        public static Vector512<byte> ExpandBits(uint low, uint high) => Join(ExpandBits(low), ExpandBits(high));

        [MethodImpl(Inline)]
        public static Vector512<sbyte> Lookup16(Vector512<sbyte> table, Vector512<byte> index) =>
            Avx512BW.IsSupported
                ? Avx512BW.Shuffle(table, index.AsSByte())
                : Vector512.Create(Lookup16(table.GetLower(), index.GetLower()), Lookup16(table.GetUpper(), index.GetUpper()));

        [MethodImpl(Inline)]
        public static Vector512<sbyte> BroadcastV512(Vector128<sbyte> table)
        {
            // Join, not Vector512.Create(half, half): the JIT builds the latter by inserting into the old register.
            var half = BroadcastV256(table);
            return Join(half, half);
        }

        /// <summary>
        /// Two SplitHalves32 sub-blocks' 32 packed bytes as 64 nibble values in value order: the low nibbles of bytes
        /// 0-15, their high nibbles, then the same of bytes 16-31. Its constants live in a value a loop creates once
        /// (the JIT reloads constant vectors at every use inside a loop, but keeps locals in registers).
        /// </summary>
        public readonly struct NibblePairs
        {
            private readonly Vector512<ulong> _spread;
            private readonly Vector512<ushort> _shifts;
            private readonly Vector512<byte> _mask;

            private NibblePairs(Vector512<ulong> spread, Vector512<ushort> shifts, Vector512<byte> mask)
            {
                _spread = spread;
                _shifts = shifts;
                _mask = mask;
            }

            [MethodImpl(Inline)]
            public static NibblePairs Create() => new(
                Vector512.Create(0UL, 1, 0, 1, 2, 3, 2, 3),
                Vector512.Create(0UL, 0, 0x0004000400040004UL, 0x0004000400040004UL, 0, 0, 0x0004000400040004UL, 0x0004000400040004UL).AsUInt16(),
                Vector512.Create((byte)0x0F));

            [MethodImpl(Inline)]
            public Vector512<byte> Split(Vector256<byte> packed)
            {
                if (Avx512BW.IsSupported)
                {
                    // Each 128-bit half twice (vpermq), then the copies shifted by 0 and 4 (vpsrlvw) and masked.
                    var twice = Avx512F.PermuteVar8x64(packed.AsUInt64().ToVector512Unsafe(), _spread);
                    return Avx512BW.ShiftRightLogicalVariable(twice.AsUInt16(), _shifts).AsByte() & _mask;
                }

                var low = packed.GetLower();
                var high = packed.GetUpper();
                var mask = Vector128.Create((byte)0x0F);
                return Join(
                    Join(low & mask, Vector128.ShiftRightLogical(low.AsUInt16(), 4).AsByte() & mask),
                    Join(high & mask, Vector128.ShiftRightLogical(high.AsUInt16(), 4).AsByte() & mask));
            }
        }

        /// <summary>y with the lanes under <paramref name="mask"/> negated (for activations in -127..127); one masked subtract with AVX-512.</summary>
        [MethodImpl(Inline)]
        public static Vector512<sbyte> NegateWhere(Vector512<sbyte> y, Vector512<byte> mask) =>
            Vector512.ConditionalSelect(mask.AsSByte(), Vector512<sbyte>.Zero - y, y);

        [MethodImpl(Inline)]
        public static Vector512<int> DotBiased(Vector512<byte> u, Vector512<sbyte> y, Vector512<byte> bias)
        {
            if (Avx512BW.IsSupported)
            {
                var pairs = Avx512BW.MultiplyAddAdjacent(u, y) - Avx512BW.MultiplyAddAdjacent(bias, y);
                return Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1));
            }

            return DotI8((u - bias).AsSByte(), y);
        }

        """;
}
