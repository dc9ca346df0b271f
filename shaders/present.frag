#version 330 core
// The finished frame onto a window's framebuffer: 1:1 when the sizes match, otherwise
// scaled with bilinear filtering, at its own aspect ratio, until the caller resizes the renderer.

in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_frame;  // the renderer's output, in framebuffer orientation

void main() {
    f_color = vec4(texture(u_frame, v_uv).rgb, 1.0);
}
