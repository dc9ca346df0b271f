#version 330 core
// One triangle covering the viewport, placed from gl_VertexID: no vertex buffer needed.
// Drawn into a smaller viewport it covers just that rectangle (the HUD uses this).

out vec2 v_uv;  // (0,0) bottom-left .. (1,1) top-right of the viewport, GL convention

void main() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));  // (0,0) (2,0) (0,2)
    v_uv = corner;
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
