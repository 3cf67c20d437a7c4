"""``prefetch(arr, i)``: ask the CPU to start loading ``arr[i]`` into cache, from a Numba kernel.

Building and checking the n-gram hash tables is one random memory access per
row into tables far larger than the cache, so the time goes into waiting for
memory.  Hashing row ``r + distance`` and prefetching its slot while row ``r``
is handled keeps several of those loads in flight at once (about 3x faster
inserts on the KJV 5-gram tables).  It is LLVM's ``llvm.prefetch`` (read,
keep in all cache levels); it never changes a result and an index out of
range is harmless (the hint is not a load, so it cannot fault).
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, arr, idx):
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        # plain pointer arithmetic: no bounds check, no wraparound (a hint may point anywhere)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
